#!/usr/bin/env python3
#
# t/054-proxy-resolve.t -- provider host names without a "resolver"
# directive: voicegw_proxy takes the system's name servers (resolv.conf's
# "nameserver" lines; here a resolv.conf of the test's naming our fake
# name server, t/support/fake_dns.py, on 127.0.0.77:53) and resolves
# through nginx's own resolver; a location's own "resolver" wins;
# resolv_conf=off and no resolver: 502 that says what to add; a name that
# does not resolve: 502 that says so.  Needs root (port 53).

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, FakeProvider, Nginx, at_cleanup, free_port,  # noqa
                    is_, like, ok, request, tap, wait_for, workdir)

d = workdir("054-proxy-resolve")
port = free_port()
KEY = "sk-RESOLVE-4e1a9c7b2d0f"
fake = FakeProvider(d, KEY)

if os.geteuid() != 0:
    print("1..0 # SKIP needs root to listen on port 53")
    sys.exit(0)

record = os.path.join(d, "dns.log")
dns = subprocess.Popen(
    [sys.executable, os.path.join(ROOT, "t", "support", "fake_dns.py"),
     "--listen", "127.0.0.77", "--port", "53", "--record", record,
     "--name", "api.fake.test=127.0.0.1"],
    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
at_cleanup(dns.terminate)
is_(dns.stdout.readline().strip(), "ready", "the fake name server listens")

resolv = os.path.join(d, "resolv.conf")
with open(resolv, "w") as f:
    f.write("# written by the test\nsearch example\n"
            "nameserver 127.0.0.77\noptions edns0\n")

CONF = """
    voicegw_zone vg_resolve 4m;
    voicegw_provider_destinations public loopback;
    voicegw_provider byname type=openai key=%(key)s
                     base_url=http://api.fake.test:%(fport)d;
    voicegw_provider nowhere type=openai key=%(key)s
                     base_url=http://nowhere.fake.test:%(fport)d;
    server {
        listen 127.0.0.1:%(port)d;
        error_page 502 504 /_voicegw_error;
        location = /_voicegw_error { internal; voicegw_error; }
        location /sys/ { voicegw_proxy resolv_conf=%(resolv)s; }
        location /own/ {
            resolver 127.0.0.77 ipv6=off;
            voicegw_proxy resolv_conf=off;
        }
        location /none/ { voicegw_proxy resolv_conf=off; }
    }
""" % {"key": KEY, "fport": fake.port, "port": port, "resolv": resolv}

ngx = Nginx(os.path.join(d, "nginx"), CONF, workers=2).start(
    wait_ports=[port])

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user",
                                              "content": "hi"}]}


def chat(prefix, provider="byname"):
    return request("POST", port, "/%s/%s/v1/chat/completions"
                   % (prefix, provider), BODY,
                   {"Content-Type": "application/json"})


codes = [chat("sys").status for i in range(4)]
is_(codes, [200] * 4,
    "no resolver directive: the host name is resolved through the name "
    "server of resolv.conf, by both processes")
log = open(record).read()
like(log, r"(?m)^A api\.fake\.test$", "the name server was asked for A")
ok("AAAA" not in log, "and not for AAAA (ipv6=off)")
h = (fake.seen() or [{}])[-1].get("headers", {})
is_(h.get("host"), "api.fake.test:%d" % fake.port,
    "Host is the provider's name")

is_(chat("own").status, 200, "a location's own resolver is used")

r = chat("none")
is_((r.status, (r.json() or {}).get("error")), (502, "provider_unavailable"),
    "resolv_conf=off and no resolver: 502 provider_unavailable")
like((r.json() or {}).get("detail", ""), r"resolver",
     "the error says to add a resolver")

r = chat("sys", "nowhere")
is_((r.status, (r.json() or {}).get("error")), (502, "provider_unavailable"),
    "a name that does not resolve: 502")
like((r.json() or {}).get("detail", ""), r"nowhere\.fake\.test could not be "
     r"resolved", "the error names the host")

ok(ngx.stop(), "nginx stopped")
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")

sys.exit(tap.done())
