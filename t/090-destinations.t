#!/usr/bin/env python3
#
# t/090-destinations.t -- the provider test and the proxy are not an open
# door (issue 13, point 5): voicegw_provider_destinations.
#   - without it only public addresses: a base_url that is a loopback,
#     private, link-local, reserved or IPv4-mapped address is refused where
#     it is written (nginx -t; the API: 400 destination_refused) and
#     nothing is stored;
#   - a base_url by name is looked at after resolution (a fake name server
#     answers 127.0.0.1): the provider test answers "destination refused"
#     and sends nothing, the same whether the port is open or not (no
#     port-scanning oracle); the proxy answers 403 destination_refused and
#     sends nothing; the error log says why;
#   - "public loopback" lets them through (after a reload), a CIDR range
#     lets in only its addresses;
#   - the provider test follows no redirect.

import http.server
import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (FakeProvider, Nginx, at_cleanup, free_port, is_, like,  # noqa
                    ok, request, tap, wait_for, workdir, secret_key)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

d = workdir("090-destinations")
port = free_port()
KEY = "sk-DEST-2c7a9e4b1d0f6a83"
fake = FakeProvider(d, KEY)
closed = free_port()                     # nothing listens there
secret = secret_key(d)

root = os.geteuid() == 0

if root:
    dns = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "t", "support", "fake_dns.py"),
         "--listen", "127.0.0.77", "--port", "53",
         "--name", "inside.fake.test=127.0.0.1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    at_cleanup(dns.terminate)
    is_(dns.stdout.readline().strip(), "ready", "the fake name server listens")


def conf(dest="", providers=""):
    return """
    voicegw_zone  vg_dest 4m;
    voicegw_store data/vg.db;
    voicegw_secret %(secret)s;
    %(dest)s
    %(providers)s
    server {
        listen 127.0.0.1:%(port)d;
        resolver 127.0.0.77 ipv6=off;
        location /v1/proxy/ { voicegw_proxy resolv_conf=off; }
        location / { voicegw_api; }
    }
""" % {"secret": secret, "port": port, "dest": dest,
       "providers": providers}


BY_NAME = ("voicegw_provider named type=openai key=%s "
           "base_url=http://inside.fake.test:%d;\n"
           "    voicegw_provider shut type=openai key=%s "
           "base_url=http://inside.fake.test:%d;"
           % (KEY, fake.port, KEY, closed))

# -- written in nginx.conf: refused by nginx -t -------------------------------

ngx = Nginx(os.path.join(d, "nginx"), conf(
    providers="voicegw_provider lo type=openai key=%s "
              "base_url=http://127.0.0.1:%d;" % (KEY, fake.port)))
code, text = ngx.test_config()
ok(code != 0, "nginx -t refuses a provider at a loopback address")
like(text, r'provider "lo" is a loopback address, which '
           r'voicegw_provider_destinations does not allow',
     "and says which provider and why")

for base, kind in (("http://10.1.2.3", "private"),
                   ("http://169.254.169.254", "link-local"),
                   ("http://[::ffff:127.0.0.1]:8080", "loopback"),
                   ("http://0.0.0.0:80", "reserved")):
    ngx.write_conf(conf(providers="voicegw_provider x type=openai key=%s "
                                  "base_url=%s;" % (KEY, base)))
    code, text = ngx.test_config()
    ok(code != 0 and ("a %s address" % kind) in text,
       "nginx -t refuses %s (%s)" % (base, kind))

# -- the API: refused where it is written ------------------------------------

ngx.write_conf(conf(providers=BY_NAME if root else ""))
ngx.start(wait_ports=[port])


def create(pid, base):
    return request("POST", port, "/v1/providers",
                   {"provider_id": pid, "provider_type": "openai",
                    "api_key": KEY, "base_url": base},
                   {"Content-Type": "application/json"})


for i, (base, kind) in enumerate((
        ("http://127.0.0.1:%d" % fake.port, "loopback"),
        ("http://127.9.9.9:%d/v1" % closed, "loopback"),
        ("http://[::1]:%d" % fake.port, "loopback"),
        ("http://[::ffff:7f00:1]:%d" % fake.port, "loopback"),
        ("https://192.168.1.20", "private"),
        ("http://172.16.0.1:8080", "private"),
        ("http://[fd00::1]", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[fe80::1]", "link-local"),
        ("http://0.0.0.0:%d" % fake.port, "reserved"))):
    r = create("api%d" % i, base)
    j = r.json() or {}
    ok(r.status == 400 and j.get("error") == "destination_refused"
       and ("a %s address" % kind) in j.get("detail", ""),
       "POST /v1/providers with %s: 400 destination_refused, %s (%r)"
       % (base, kind, (r.status, j)))

r = request("GET", port, "/v1/providers")
ok(r.status == 200 and not [p for p in r.json().get("providers", [])
                            if p["provider_id"].startswith("api")],
   "nothing refused was stored")

r = create("pub", "https://93.184.216.34")
is_(r.status, 200, "a public address is accepted (not contacted)")
r = request("PATCH", port, "/v1/providers/pub",
            {"base_url": "http://127.0.0.1:%d" % fake.port},
            {"Content-Type": "application/json"})
is_((r.status, (r.json() or {}).get("error")), (400, "destination_refused"),
    "PATCH to a loopback address: 400 destination_refused")

# -- by name: refused once resolved, nothing sent -----------------------------

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user",
                                              "content": "hi"}]}

if root:
    seen = len(fake.seen())
    a = request("POST", port, "/v1/providers/named/test", timeout=10).json()
    b = request("POST", port, "/v1/providers/shut/test", timeout=10).json()
    is_(a.get("status"), "failed", "the provider test of a name that "
        "resolves to 127.0.0.1: failed")
    like(a.get("message", ""), r"destination refused: inside\.fake\.test is "
         r"a loopback address", "it says the destination is refused")
    is_((a.get("http_status"), a.get("message")),
        (b.get("http_status"), b.get("message")),
        "the same answer whether the port is open or closed: no oracle")
    r = request("POST", port, "/v1/proxy/named/v1/chat/completions", CHAT,
                {"Content-Type": "application/json"})
    is_((r.status, (r.json() or {}).get("error")),
        (403, "destination_refused"), "a proxied call: 403 "
        "destination_refused")
    is_(len(fake.seen()), seen, "the provider at 127.0.0.1 saw nothing")
    like(ngx.error_log(), r'provider "named" is at a loopback address',
         "the error log says why")
else:
    for i in range(6):
        ok(True, "# SKIP names need root (a name server on port 53)")

# -- allowed: public loopback, then a range -----------------------------------

ok(ngx.reload(conf(dest="voicegw_provider_destinations public loopback;",
                   providers=BY_NAME if root else "")),
   "reload with voicegw_provider_destinations public loopback")
r = create("local", "http://127.0.0.1:%d" % fake.port)
is_(r.status, 200, "a loopback base_url is accepted now")
r = request("POST", port, "/v1/providers/local/test", timeout=10)
is_(r.json().get("status"), "ok", "and its test reaches the fake: ok")
r = request("POST", port, "/v1/proxy/local/v1/chat/completions", CHAT,
            {"Content-Type": "application/json", "X-VoiceGW-Project": ""})
is_(r.status, 200, "and the proxy reaches it")
r = create("meta", "http://169.254.169.254")
is_(r.status, 400, "link-local is still refused")

if root:
    r = request("POST", port, "/v1/providers/named/test", timeout=10)
    is_(r.json().get("status"), "ok", "the name resolving to 127.0.0.1: ok")
else:
    ok(True, "# SKIP names need root")

ok(ngx.reload(conf(dest="voicegw_provider_destinations 127.0.0.1/32;")),
   "reload with a single address as the range")
r = request("POST", port, "/v1/providers/local/test", timeout=10)
is_(r.json().get("status"), "ok", "127.0.0.1 is in the range")
r = create("other", "http://127.0.0.2:%d" % fake.port)
is_(r.status, 400, "127.0.0.2 is not")
r = create("pub2", "https://93.184.216.35")
is_(r.status, 400, "nor a public address: the list has no \"public\"")

# -- no redirect is followed ---------------------------------------------------

target_hits = []


def serve(status, headers):
    """A one-answer HTTP server in a thread; the paths it was asked for."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    at_cleanup(srv.shutdown)
    return srv, hits


target, target_hits = serve(200, [])
redirect, _ = serve(302, [("Location", "http://127.0.0.1:%d/secret"
                           % target.server_port)])

r = create("redir", "http://127.0.0.1:%d" % redirect.server_port)
is_(r.status, 200, "a provider that redirects")
j = request("POST", port, "/v1/providers/redir/test", timeout=10).json()
is_((j.get("status"), j.get("http_status")), ("failed", 302),
    "its test reports the 302 as a failure")
is_(target_hits, [], "the redirect was not followed")

tap.done()
