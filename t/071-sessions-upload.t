#!/usr/bin/env python3
#
# t/071-sessions-upload.t -- issue 11, point 6 and part of 9:
# POST /api/sessions/{id}/upload-recording, multipart/form-data "file":
#   - each content type taken and stored as frontend_replay.{webm|mp4|wav},
#     the answer {"status":"ok","path":...,"size_bytes":N};
#   - another type, no type, no "file" part, not a form: 400 in JSON;
#   - max_upload counts the file part's bytes: exactly max_upload (1m here)
#     taken, one byte more 413 and no file; a Content-Length over
#     max_upload + 64 KiB refused before the body is sent;
#   - with the 200m default: a Content-Length past it refused at once, a
#     200 MiB + 1 byte file 413 and no file;
#   - an upload cut half-way (the client closes): no file, the earlier
#     frontend_replay intact, no temporary file left;
#   - two uploads at once to one session: one whole file, no temporary one;
#   - an unknown session 404, a bad id 400;
#   - the workers' memory flat during a 100 MiB upload.

import glob
import hashlib
import json
import os
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (Nginx, diag, free_port, is_, ok, request,  # noqa
                    tap, workdir)

MiB = 1024 * 1024
B = "----voicegwBoundary0123456789"
d = workdir("071-sessions-upload")
S = os.path.join(d, "sessions")
S2 = os.path.join(d, "sessions200")

for top in (S, S2):
    for sid in ("s1", "s2", "s3", "s4"):
        os.makedirs(os.path.join(top, sid))
        with open(os.path.join(top, sid, "meta.json"), "w") as f:
            f.write('{"session_id": "%s"}\n' % sid)

CONF = """
    voicegw_zone            %(zone)s 4m;
    voicegw_sessions        %(S)s %(limit)s;

    server {
        listen 127.0.0.1:%(port)d;

        location / {
            voicegw_api service;
        }
    }
"""

port = free_port()
ngx = Nginx(os.path.join(d, "nginx"),
            CONF % dict(zone="vg_up1", S=S, limit="max_upload=1m",
                        port=port))
ngx.start(wait_ports=[port])


def head_of(ctype, name="file", filename="replay.bin"):
    h = ('--%s\r\nContent-Disposition: form-data; name="%s"; '
         'filename="%s"\r\n' % (B, name, filename))
    if ctype is not None:
        h += "Content-Type: %s\r\n" % ctype
    return (h + "\r\n").encode()


TAIL = ("\r\n--%s--\r\n" % B).encode()


def form(data, ctype="video/webm", name="file", extra=b""):
    return extra + head_of(ctype, name) + data + TAIL


def upload(p, sid, body, ctype="multipart/form-data; boundary=" + B):
    return request("POST", p, "/api/sessions/%s/upload-recording" % sid,
                   body=body, headers={"Content-Type": ctype}, timeout=60)


def is_json_error(r, status, name):
    j = r.json()
    ok(r.status == status and isinstance(j, dict) and "detail" in j
       and "error" in j and r.header("Content-Type") == "application/json",
       "%s: %d in JSON (got %d %r)" % (name, status, r.status, r.body[:100]))


def files(top, sid):
    return sorted(os.path.basename(p)
                  for p in glob.glob(os.path.join(top, sid, "*"))
                  + glob.glob(os.path.join(top, sid, ".*")))


def content(top, sid, name):
    with open(os.path.join(top, sid, name), "rb") as f:
        return f.read()


def body_temp_empty(n):
    return os.listdir(os.path.join(n.prefix, "tmp", "client_body")) == []


# -- each type -----------------------------------------------------------------

for ctype, name in (("video/webm", "frontend_replay.webm"),
                    ("video/mp4", "frontend_replay.mp4"),
                    ("audio/wav", "frontend_replay.wav"),
                    ("audio/webm", "frontend_replay.webm"),
                    ("Video/MP4; codecs=avc1", "frontend_replay.mp4")):
    data = os.urandom(5000) + b"\r\n--" + B[:10].encode() + os.urandom(300)
    r = upload(port, "s1", form(data, ctype))
    is_((r.status, r.json()),
        (200, {"status": "ok", "path": name, "size_bytes": len(data)}),
        "%s: 200, stored as %s" % (ctype, name))
    ok(content(S, "s1", name) == data, "... with the part's bytes exactly")

is_(files(S, "s1"), ["frontend_replay.mp4", "frontend_replay.wav",
                     "frontend_replay.webm", "meta.json"],
    "the folder holds the three recordings and nothing else")

# a field before the file, a preamble, the file part split by the delimiter
data = os.urandom(70000)
r = upload(port, "s2", b"preamble\r\n--" + B.encode()
           + b'\r\nContent-Disposition: form-data; name="session_id"\r\n\r\n'
           b"s2\r\n" + form(data, "audio/wav"))
ok(r.status == 200 and content(S, "s2", "frontend_replay.wav") == data,
   "a field before the file part and a preamble: the file part stored")

# -- refused types and forms ---------------------------------------------------

before = files(S, "s3")
is_json_error(upload(port, "s3", form(b"ID3", "audio/mpeg")), 400,
              "audio/mpeg")
is_json_error(upload(port, "s3", form(b"x", None)), 400,
              "a file part without Content-Type")
is_json_error(upload(port, "s3", form(b"x", "video/webm", name="other")),
              400, "no \"file\" part")
is_json_error(upload(port, "s3", form(b"x"), ctype="application/json"), 400,
              "not multipart/form-data")
is_json_error(upload(port, "s3", form(b"x"), ctype="multipart/form-data"),
              400, "multipart/form-data without a boundary")
is_json_error(upload(port, "s3", form(b"x")[:-len(TAIL)]), 400,
              "a form without its closing delimiter")
is_(files(S, "s3"), before, "... and nothing written for any of them")

# -- max_upload ------------------------------------------------------------------

data = os.urandom(1 * MiB)
r = upload(port, "s3", form(data, "video/mp4"))
is_((r.status, r.json()),
    (200, {"status": "ok", "path": "frontend_replay.mp4",
           "size_bytes": MiB}),
    "a file part of exactly max_upload (1m): 200")
ok(content(S, "s3", "frontend_replay.mp4") == data, "... stored whole")

r = upload(port, "s4", form(os.urandom(MiB + 1), "video/mp4"))
is_json_error(r, 413, "max_upload + 1 byte")
is_(files(S, "s4"), ["meta.json"], "... and no file left in the folder")

# the body may carry other fields: counted is the file part only
r = upload(port, "s4", form(os.urandom(MiB), "audio/wav",
                            extra=b"--" + B.encode() + b'\r\nContent-'
                            b'Disposition: form-data; name="note"\r\n\r\n'
                            + b"n" * 30000 + b"\r\n"))
ok(r.status == 200 and r.json()["size_bytes"] == MiB,
   "max_upload bytes and a 30000-byte field: 200")


def headers_only(p, sid, length, ctype="multipart/form-data; boundary=" + B):
    """Sends the request head only: the answer, if one comes at once."""
    s = socket.create_connection(("127.0.0.1", p), timeout=10)
    s.sendall(("POST /api/sessions/%s/upload-recording HTTP/1.1\r\n"
               "Host: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
               "Expect: 100-continue\r\n\r\n" % (sid, ctype, length)).encode())
    got = b""
    while b"\r\n\r\n" not in got:
        if not select.select([s], [], [], 5)[0]:
            break
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    return got


got = headers_only(port, "s4", MiB + 65536 + 1)
ok(got.startswith(b"HTTP/1.1 413"),
   "Content-Length over max_upload + 64 KiB: 413 before the body is sent "
   "(got %r)" % got[:40])
got = headers_only(port, "s4", MiB + 65536)
ok(got.startswith(b"HTTP/1.1 100"),
   "Content-Length of max_upload + 64 KiB: the body is asked for")

# -- cut half-way ------------------------------------------------------------------

old = content(S, "s1", "frontend_replay.webm")
body = form(os.urandom(800000), "video/webm")
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(("POST /api/sessions/s1/upload-recording HTTP/1.1\r\nHost: x\r\n"
           "Content-Type: multipart/form-data; boundary=%s\r\n"
           "Content-Length: %d\r\n\r\n" % (B, len(body))).encode())
s.sendall(body[:len(body) // 2])
time.sleep(0.3)
s.close()
time.sleep(0.5)
ok(content(S, "s1", "frontend_replay.webm") == old,
   "an upload cut half-way: the earlier frontend_replay.webm intact")
is_(files(S, "s1"), ["frontend_replay.mp4", "frontend_replay.wav",
                     "frontend_replay.webm", "meta.json"],
    "... and no temporary file in the folder")
ok(body_temp_empty(ngx), "... nor in nginx's client_body_temp_path")

# -- two at once ------------------------------------------------------------------

A, Bd = os.urandom(MiB - 7), os.urandom(MiB - 3)
results = {}


def send(key, data):
    results[key] = upload(port, "s2", form(data, "video/webm"))


ts = [threading.Thread(target=send, args=(k, v))
      for k, v in (("a", A), ("b", Bd))]
for t in ts:
    t.start()
for t in ts:
    t.join()
is_((results["a"].status, results["b"].status), (200, 200),
    "two uploads at once to one session: both 200")
got = content(S, "s2", "frontend_replay.webm")
ok(got == A or got == Bd, "... and the file is one of them, whole")
is_(files(S, "s2"), ["frontend_replay.wav", "frontend_replay.webm",
                     "meta.json"], "... and no temporary file left")

# -- unknown session, bad id ---------------------------------------------------------

is_json_error(upload(port, "nope", form(b"x")), 404, "an unknown session")
ok(not os.path.exists(os.path.join(S, "nope")), "... and no folder for it")
is_json_error(upload(port, "a.b", form(b"x")), 400, "a bad session id")
is_json_error(upload(port, "x" * 129, form(b"x")), 400, "a 129-character id")
is_json_error(request("GET", port, "/api/sessions/s1/upload-recording"),
              405, "GET upload-recording")

ok(body_temp_empty(ngx), "nginx's temporary files of the bodies are gone")
ngx.stop()
is_(ngx.alerts(), [], "no alerts")

# -- the 200m default ------------------------------------------------------------------

port2 = free_port()
ngx2 = Nginx(os.path.join(d, "nginx200"),
             CONF % dict(zone="vg_up2", S=S2, limit="", port=port2))
ngx2.start(wait_ports=[port2])

got = headers_only(port2, "s1", 200 * MiB + 65536 + 1)
ok(got.startswith(b"HTTP/1.1 413") and b"209715200" in got,
   "200m default: a Content-Length past it refused before the body")


def rss(n):
    total = 0
    for pid in n.worker_pids():
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def stream(p, sid, size, ctype="video/webm", sample=None):
    """A file part of `size` bytes sent in 1 MiB pieces; stops sending
    when an answer comes.  (answer, sha256 of the part, RSS samples)."""
    head, tail = head_of(ctype), TAIL
    s = socket.create_connection(("127.0.0.1", p), timeout=60)
    s.sendall(("POST /api/sessions/%s/upload-recording HTTP/1.1\r\n"
               "Host: x\r\nContent-Type: multipart/form-data; boundary=%s\r\n"
               "Content-Length: %d\r\nConnection: close\r\n\r\n"
               % (sid, B, len(head) + size + len(tail))).encode() + head)
    h = hashlib.sha256()
    piece = os.urandom(MiB)
    samples = []
    sent = 0
    answered = False
    try:
        while sent < size:
            n = min(MiB, size - sent)
            h.update(piece[:n])
            s.sendall(piece[:n])
            sent += n
            if sample and sent % (8 * MiB) == 0:
                samples.append(sample())
            if select.select([s], [], [], 0)[0]:
                answered = True
                break
        if not answered:
            s.sendall(tail)
    except (BrokenPipeError, ConnectionResetError):
        pass
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
            if b"\r\n\r\n" in got and got.rstrip().endswith(b"}"):
                break
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    return got, h.hexdigest(), samples


got, _, _ = stream(port2, "s1", 200 * MiB + 1)
ok(got.startswith(b"HTTP/1.1 413") and b'"error"' in got,
   "a 200 MiB + 1 byte file: 413 in JSON (got %r)" % got[:60])
is_(files(S2, "s1"), ["meta.json"], "... and no file left")

time.sleep(0.2)
base = rss(ngx2)
got, digest, samples = stream(port2, "s2", 100 * MiB, "video/mp4",
                              sample=lambda: rss(ngx2))
ok(got.startswith(b"HTTP/1.1 200")
   and json.loads(got.partition(b"\r\n\r\n")[2])["size_bytes"] == 100 * MiB,
   "a 100 MiB upload: 200, size_bytes 104857600")
h = hashlib.sha256()
with open(os.path.join(S2, "s2", "frontend_replay.mp4"), "rb") as f:
    for block in iter(lambda: f.read(MiB), b""):
        h.update(block)
ok(h.hexdigest() == digest, "... stored whole")
growth = max(samples) - base if samples else None
diag("workers' RSS: %d KiB before, at most %d KiB during the upload"
     % (base, max(samples) if samples else -1))
ok(growth is not None and growth < 8 * 1024,
   "... the workers' memory flat while it streams (grew %s KiB)" % growth)
ok(body_temp_empty(ngx2), "... and nginx's temporary file removed")

ngx2.stop()
is_(ngx2.alerts(), [], "no alerts")

sys.exit(tap.done())
