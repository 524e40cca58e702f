#!/usr/bin/env python3
#
# t/070-sessions-api.t -- issue 11, points 3, 4, 7 and part of 9: the
# session endpoints on a sessions folder laid out as workers leave it:
#   - GET /api/sessions/{id}: meta.json as it is, application/json; an
#     unknown id 404, a bad id 400, in JSON;
#   - .../recording: 404 until recording.json exists, then the file;
#   - .../assets/{path} through nginx's static module: the original's
#     content types, ETag, Last-Modified, Range (one and several), 416,
#     If-None-Match 304, If-Range, HEAD;
#   - refused, in JSON, and nothing outside the folder served: "..",
#     %2e%2e, %2f, an absolute path, a symlink to /etc/passwd and to a
#     sibling session, a FIFO, a directory (with and without "/");
#   - the comment: GET, POST (2000 characters, 2001 -> 413, a number ->
#     400, "" deletes comment.txt), an unknown session 404;
#   - GET /s/{id}: the viewer page for a known session, 404 otherwise.

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (Nginx, free_port, get, is_, ok, raw_request,  # noqa
                    request, sessions_conf, tap, workdir)

d = workdir("070-sessions-api")
port = free_port()
S = os.path.join(d, "sessions")
viewer = os.path.join(d, "viewer.html")
with open(viewer, "w") as f:
    f.write("<html><body>session viewer</body></html>\n")

META = '{"session_id": "s1", "type": "omni_duplex", "config": {}}\n'
WAV = bytes(range(256)) * 40            # 10240 bytes


def put(rel, data):
    p = os.path.join(S, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


put("s1/meta.json", META)
put("s1/user_audio/000.wav", WAV)
put("s1/user_frames/000.jpg", b"\xff\xd8jpeg")
put("s1/notes.json", '{"a":1}')
put("s1/raw.bin", b"\x00\x01")
put("s2/meta.json", '{"session_id": "s2"}')
put("s2/secret.txt", "sibling")
os.symlink("/etc/passwd", os.path.join(S, "s1", "passwd"))
os.symlink(os.path.join(S, "s2", "secret.txt"), os.path.join(S, "s1", "sib"))
os.mkfifo(os.path.join(S, "s1", "fifo"))

CONF = sessions_conf("vg_sapi", S, port,
                     "voicegw_session_viewer  %s;" % viewer)

ngx = Nginx(os.path.join(d, "nginx"), CONF)
ngx.start(wait_ports=[port])


def is_json_error(r, status, name):
    j = r.json()
    ok(r.status == status and isinstance(j, dict) and "detail" in j
       and "error" in j and r.header("Content-Type") == "application/json",
       "%s: %d in JSON (got %d %r)" % (name, status, r.status, r.body[:80]))


def raw(path, method="GET"):
    return raw_request(port, ("%s %s HTTP/1.0\r\nHost: x\r\n\r\n"
                              % (method, path)).encode())


# -- metadata and recording -------------------------------------------------

r = get(port, "/api/sessions/s1")
is_(r.status, 200, "GET /api/sessions/s1: 200")
is_(r.body.decode(), META, "meta.json as it is")
is_(r.header("Content-Type"), "application/json", "... application/json")
is_json_error(get(port, "/api/sessions/nope"), 404, "an unknown session")
is_json_error(get(port, "/api/sessions/a.b"), 400, "a dot in the id")
is_json_error(get(port, "/api/sessions/" + "x" * 129), 400, "129 characters")
is_json_error(get(port, "/api/sessions/%20x"), 400, "a space in the id")
ok(get(port, "/api/sessions/" + "x" * 128).status == 404,
   "128 characters is a valid (unknown) id: 404")

is_json_error(get(port, "/api/sessions/s1/recording"), 404,
              "recording.json not there yet")
put("s1/recording.json", '{"mode":"duplex","chunks":[]}')
r = get(port, "/api/sessions/s1/recording")
is_((r.status, r.json()), (200, {"mode": "duplex", "chunks": []}),
    "the recording once written")

# -- assets -----------------------------------------------------------------

A = "/api/sessions/s1/assets/"
r = get(port, A + "user_audio/000.wav")
is_((r.status, r.body), (200, WAV), "an asset: 200, the bytes")
is_(r.header("Content-Type"), "audio/wav", "... audio/wav")
etag, lm = r.header("ETag"), r.header("Last-Modified")
ok(etag and lm, "... ETag %s, Last-Modified %s" % (etag, lm))
is_(r.header("Accept-Ranges"), "bytes", "... Accept-Ranges: bytes")
is_(get(port, A + "user_frames/000.jpg").header("Content-Type"),
    "image/jpeg", ".jpg: image/jpeg")
is_(get(port, A + "notes.json").header("Content-Type"),
    "application/json", ".json: application/json")
is_(get(port, A + "raw.bin").header("Content-Type"), "text/plain",
    "anything else: text/plain")
is_(get(port, A + "meta.json").body.decode(), META,
    "meta.json through /assets/ too")

r = get(port, A + "user_audio/000.wav", headers={"Range": "bytes=0-9"})
is_((r.status, r.body), (206, WAV[:10]), "Range 0-9: 206, 10 bytes")
is_(r.header("Content-Range"), "bytes 0-9/10240", "... Content-Range")
r = get(port, A + "user_audio/000.wav", headers={"Range": "bytes=-5"})
is_((r.status, r.body), (206, WAV[-5:]), "a suffix range")
r = get(port, A + "user_audio/000.wav", headers={"Range": "bytes=10000-"})
is_((r.status, r.body), (206, WAV[10000:]), "an open range")
r = get(port, A + "user_audio/000.wav",
        headers={"Range": "bytes=0-1,100-101"})
ok(r.status == 206 and r.header("Content-Type").startswith(
    "multipart/byteranges") and WAV[100:102] in r.body,
   "two ranges: 206 multipart/byteranges")
r = get(port, A + "user_audio/000.wav", headers={"Range": "bytes=20000-"})
is_(r.status, 416, "an unsatisfiable range: 416")
is_(r.header("Content-Range"), "bytes */10240", "... Content-Range */size")
r = get(port, A + "user_audio/000.wav", headers={"If-None-Match": etag})
is_((r.status, r.body), (304, b""), "If-None-Match: 304")
r = get(port, A + "user_audio/000.wav",
        headers={"Range": "bytes=0-9", "If-Range": etag})
is_(r.status, 206, "If-Range with the ETag: 206")
r = get(port, A + "user_audio/000.wav",
        headers={"Range": "bytes=0-9", "If-Range": '"other"'})
is_((r.status, len(r.body)), (200, len(WAV)),
    "If-Range with another ETag: the whole file")
r = request("HEAD", port, A + "user_audio/000.wav")
is_((r.status, r.body, r.header("Content-Length")), (200, b"", "10240"),
    "HEAD: headers only")

# -- refusals ---------------------------------------------------------------

for name, path in [
        ("raw ..", A + "../../../../../etc/passwd"),
        ("raw .. inside", A + "user_audio/../../s2/secret.txt"),
        ("%2e%2e", A + "%2e%2e/%2e%2e/s2/secret.txt"),
        ("%2e%2e up", A + "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
        ("%2f", A + "%2fetc%2fpasswd"),
        ("%2f..", A + "..%2f..%2fs2%2fsecret.txt"),
        ("absolute", A + "/etc/passwd"),
        ("a..b", A + "a..b.wav"),
        ("symlink to /etc/passwd", A + "passwd"),
        ("symlink to a sibling session", A + "sib"),
        ("a FIFO", A + "fifo"),
        ("a directory", A + "user_audio"),
        ("a directory/", A + "user_audio/"),
        ("the session folder", "/api/sessions/s1/assets/"),
        ("a missing file", A + "nothing.wav")]:
    r = raw(path)
    ok(r is not None and r.status in (400, 403, 404)
       and r.header("Content-Type") == "application/json"
       and b"root:" not in r.body and b"sibling" not in r.body,
       "%s: refused in JSON (%s)" % (name, r and r.status))

is_(raw(A + "passwd").status, 403, "a symbolic link: 403")
is_(raw(A + "fifo").status, 404, "a FIFO: 404")
is_(raw(A + "user_audio").status, 404, "a directory: 404, not a redirect")
is_(raw(A + "a..b.wav").status, 400, "'..' anywhere: 400")

# -- the comment ------------------------------------------------------------

C = "/api/sessions/s1/comment"
is_(get(port, C).json(), {"comment": ""}, "no comment yet")
r = request("POST", port, C, body={"comment": "héllo"})
is_((r.status, r.json()), (200, {"status": "ok", "len": 5}),
    "POST a comment: its length in characters")
with open(os.path.join(S, "s1", "comment.txt"), encoding="utf-8") as f:
    is_(f.read(), "héllo", "comment.txt")
is_(get(port, C).json(), {"comment": "héllo"}, "GET it back")
r = request("POST", port, C, body={"comment": "字" * 2000})
is_((r.status, r.json().get("len")), (200, 2000), "2000 characters")
is_json_error(request("POST", port, C, body={"comment": "字" * 2001}), 413,
              "2001 characters")
is_(get(port, C).json(), {"comment": "字" * 2000}, "... the old one stays")
is_json_error(request("POST", port, C, body={"comment": 5}), 400,
              "a number")
r = request("POST", port, C, body={"comment": ""})
ok(r.status == 200 and not os.path.exists(os.path.join(S, "s1",
                                                       "comment.txt")),
   "an empty comment deletes comment.txt")
is_json_error(get(port, "/api/sessions/nope/comment"), 404,
              "GET: an unknown session")
is_json_error(request("POST", port, "/api/sessions/nope/comment",
                      body={"comment": "x"}), 404, "POST: an unknown session")
ok(not os.path.exists(os.path.join(S, "nope")), "... and no folder for it")

# -- the viewer -------------------------------------------------------------

r = get(port, "/s/s1")
ok(r.status == 200 and b"session viewer" in r.body
   and r.header("Content-Type").startswith("text/html"),
   "GET /s/s1: the viewer page")
is_json_error(get(port, "/s/nope"), 404, "GET /s/unknown: 404")
is_json_error(get(port, "/s/a.b"), 400, "GET /s/bad id: 400")

ngx.stop()
# nginx's static module logs a FIFO at "crit"; nothing else may be there
is_([a for a in ngx.alerts() if "is not a regular file" not in a], [],
    "no alerts")

sys.exit(tap.done())
