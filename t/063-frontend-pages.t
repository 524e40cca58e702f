#!/usr/bin/env python3
#
# t/063-frontend-pages.t -- the original MiniCPM-o pages served by nginx
# from a checkout's static/ folder (issue 10, point 5), as docs/frontend.md
# says: conf/voicegw-frontend.conf next to the configuration, and the two
# commented lines of conf/voicegw.conf's 8006 server uncommented with the
# folder named.  A fake static/ folder made here:
#   - /, /turnbased, /half_duplex, /omni, /audio_duplex, /admin answer
#     their page, as text/html in UTF-8, and /s/{id} the gateway's viewer
#     (voicegw_session_viewer: the page for a session with meta.json, 404
#     without, 400 for a bad id);
#   - /static/... is the folder (JavaScript typed, 404 for a missing file,
#     HEAD, If-Modified-Since); /mobile-omni redirects to /mobile-omni/,
#     which is mobile-omni/index.html;
#   - the API is still the API: /health, /api/apps, /status, and a path
#     that is no page (/s/, /turnbased/x) reach it;
#   - without the line that names the folder, nginx -t says so.

import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, Nginx, free_port, get, is_, like, ok,  # noqa: E402
                    request, tap, workdir)

d = workdir("063-frontend-pages")
port = free_port()
prefix = os.path.join(d, "nginx")
conf_dir = os.path.join(prefix, "conf")
os.makedirs(conf_dir, exist_ok=True)

# -- a fake checkout ----------------------------------------------------------

static = os.path.join(d, "MiniCPM-o-Demo", "static")
PAGES = {
    "index.html": "<!doctype html><title>index</title>\u4f60\u597d",
    "turnbased.html": "<!doctype html><title>turnbased</title>",
    "omni/omni.html": "<!doctype html><title>omni</title>",
    "half-duplex/half_duplex.html": "<!doctype html><title>half</title>",
    "audio-duplex/audio_duplex.html": "<!doctype html><title>adx</title>",
    "admin.html": "<!doctype html><title>admin</title>",
    "session-viewer.html": "<!doctype html><title>viewer</title>",
    "mobile-omni/index.html": "<!doctype html><title>mobile omni</title>",
    "shared/app-nav.js": "export function initNav() { return 1; }\n",
    "shared/style.css": "body { margin: 0; }\n",
}
for rel, text in PAGES.items():
    path = os.path.join(static, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)

# -- the configuration, as docs/frontend.md says ------------------------------

shutil.copy(os.path.join(ROOT, "conf", "voicegw-frontend.conf"), conf_dir)

with open(os.path.join(ROOT, "conf", "voicegw.conf")) as f:
    shipped = f.read()

m = re.search(r"\n(\s*)#(set\s+\$voicegw_static\s+)(\S+);\n"
              r"\s*#(include\s+voicegw-frontend\.conf;)\n", shipped)
ok(m is not None, "conf/voicegw.conf has the two commented lines: the "
   "folder, then the include")
set_line = (m.group(2) + static + ";") if m else ""
include_line = m.group(4) if m else ""


SESSIONS = os.path.join(d, "sessions")
os.makedirs(os.path.join(SESSIONS, "omni_lq3k9x0a"), exist_ok=True)
with open(os.path.join(SESSIONS, "omni_lq3k9x0a", "meta.json"), "w") as f:
    f.write('{"session_id":"omni_lq3k9x0a"}')


def conf(lines):
    return """
    voicegw_zone  vg 1m;
    voicegw_sessions  %s;
    voicegw_session_viewer  %s;

    error_page  400 403 404 405 500 502 503 504 /_voicegw_error;

    server {
        listen 127.0.0.1:%d;

        location = /_voicegw_error {
            internal;
            voicegw_error;
        }

        %s

        location / {
            voicegw_api  service;
        }
    }
""" % (SESSIONS, os.path.join(static, "session-viewer.html"), port,
       "\n        ".join(lines))


nginx = Nginx(prefix, conf([set_line, include_line]), workers=1)

# without the folder, nginx -t says which variable is missing

nginx.write_conf(conf([include_line]))
rc, out = nginx.test_config()
ok(rc != 0, "nginx -t fails without the line that names the folder")
like(out, r'unknown "voicegw_static" variable',
     "and names the variable")

nginx.write_conf(conf([set_line, include_line]))
rc, out = nginx.test_config()
is_(rc, 0, "nginx -t passes with both lines")

nginx.start(wait_ports=[port])

# -- the pages ----------------------------------------------------------------

for path, rel in (("/", "index.html"),
                  ("/turnbased", "turnbased.html"),
                  ("/half_duplex", "half-duplex/half_duplex.html"),
                  ("/omni", "omni/omni.html"),
                  ("/audio_duplex", "audio-duplex/audio_duplex.html"),
                  ("/admin", "admin.html"),
                  ("/s/omni_lq3k9x0a", "session-viewer.html"),
                  ("/mobile-omni/", "mobile-omni/index.html"),
                  ("/static/index.html", "index.html"),
                  ("/static/omni/omni.html", "omni/omni.html")):
    r = get(port, path)
    is_((r.status, r.text), (200, PAGES[rel]), "%s is %s" % (path, rel))
    is_(r.header("Content-Type"), "text/html; charset=utf-8",
        "%s: text/html in UTF-8" % path)

r = get(port, "/s/adx-1_B")
is_(r.status, 404, "/s/{id} of a session without meta.json: 404 (the "
    "gateway's viewer, voicegw_session_viewer)")

r = get(port, "/static/shared/app-nav.js")
is_((r.status, r.text), (200, PAGES["shared/app-nav.js"]),
    "/static/shared/app-nav.js is the script")
is_(r.header("Content-Type"), "application/javascript; charset=utf-8",
    "a script is application/javascript (ES modules load)")

r = get(port, "/static/shared/style.css")
is_((r.status, r.header("Content-Type")), (200, "text/css; charset=utf-8"),
    "a style sheet is text/css")

r = get(port, "/mobile-omni")
is_(r.status, 302, "/mobile-omni redirects")
like(r.header("Location") or "", r"/mobile-omni/$", "to /mobile-omni/")

r = get(port, "/static/nothing.js")
is_(r.status, 404, "a missing file: 404")

r = request("HEAD", port, "/omni")
is_((r.status, r.body, r.header("Content-Length")),
    (200, b"", str(len(PAGES["omni/omni.html"]))), "HEAD /omni: headers only")

r = get(port, "/static/shared/app-nav.js")
r2 = get(port, "/static/shared/app-nav.js",
         headers={"If-Modified-Since": r.header("Last-Modified")})
is_(r2.status, 304, "If-Modified-Since: 304")
ok(r.header("ETag"), "an ETag")

r = get(port, "/static/shared/app-nav.js", headers={"Range": "bytes=0-5"})
is_((r.status, r.text), (206, "export"), "Range: 206")

# -- the API is still there ---------------------------------------------------

r = get(port, "/health")
is_((r.status, (r.json() or {}).get("status")), (200, "ok"),
    "/health is the API's")
r = get(port, "/api/apps")
ok(r.status == 200 and "apps" in (r.json() or {}), "/api/apps is the API's")
r = get(port, "/api/default_ref_audio")
is_((r.status, (r.json() or {}).get("error")), (404, "not_found"),
    "/api/default_ref_audio is the API's")

for path in ("/turnbased/x", "/s/"):
    r = get(port, path)
    is_((r.status, (r.json() or {}).get("error")), (404, "not_found"),
        "%s is no page: the API's 404" % path)
r = get(port, "/s/bad!id")
is_((r.status, (r.json() or {}).get("error")), (400, "invalid_session"),
    "/s/ with a bad id: the gateway's 400")

nginx.stop()
is_(nginx.alerts(), [], "no [alert], [crit] or [emerg]")

sys.exit(tap.done())
