#!/usr/bin/env python3
#
# t/091-production-conf.t -- the shipped production example
# (conf/voicegw-production.conf, issue 13 point 5) works as documented,
# run as it is but for its ports and where its files go: every API
# request needs a token (reads too), the admin token writes, the read
# token only reads, and a provider on this machine or a private network
# is refused, while the default conf/voicegw.conf allows this machine.

import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (MODULES, NGINX, ROOT, at_cleanup, free_port, get,  # noqa
                    is_, like, ok, request, tap, wait_for, workdir)

d = workdir("091-production-conf")
for sub in ("conf", "var/logs", "var/data", "var/tmp", "var/tls",
            "var/sessions", "build"):
    os.makedirs(os.path.join(d, sub), exist_ok=True)

with open(os.path.join(ROOT, "conf", "voicegw-production.conf")) as f:
    text = f.read()

tokens = re.findall(r"voicegw_api_key\s+(\S+)\s+scope=(\w+)", text)
ok(("read" in [s for _, s in tokens] and "all" in [s for _, s in tokens]),
   "the example has a read token and an admin token (%r)" % tokens)
READ = [t for t, s in tokens if s == "read"][0]
ADMIN = [t for t, s in tokens if s == "all"][0]
ok(re.search(r"voicegw_api_auth\s+all;", text),
   "and asks reads for a token too")
ok(re.search(r"voicegw_provider_destinations\s+public;", text),
   "and allows providers at public addresses only")

svc, mgmt = free_port(), free_port()
text = text.replace("load_module build/ngx_voicegw_module.so;",
                    "load_module %s;" % MODULES.split()[0])
text = re.sub(r"listen\s+8006 ssl;", "listen 127.0.0.1:%d ssl;" % svc, text)
text = re.sub(r"listen\s+127\.0\.0\.1:8080;", "listen 127.0.0.1:%d;" % mgmt,
              text)
ok(str(svc) in text and str(mgmt) in text,
   "the example was given this test's ports")
with open(os.path.join(d, "conf", "voicegw-production.conf"), "w") as f:
    f.write(text)
shutil.copy(os.path.join(ROOT, "conf", "voicegw-prices.tsv"),
            os.path.join(d, "conf"))
with open(os.path.join(d, "var", "secret.key"), "wb") as f:
    f.write(os.urandom(32))
os.chmod(os.path.join(d, "var", "secret.key"), 0o600)
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", os.path.join(d, "var", "tls", "key.pem"),
                "-out", os.path.join(d, "var", "tls", "cert.pem"),
                "-days", "2", "-subj", "/CN=localhost"],
               check=True, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)

# as "./build.sh run" does: the workers run as the checkout's owner
cmd = [NGINX, "-p", d + "/", "-c", "conf/voicegw-production.conf"]
if os.geteuid() == 0:
    cmd += ["-g", "user root;"]

t = subprocess.run(cmd + ["-t"], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
is_(t.returncode, 0, "nginx -t takes the example (%s)" % t.stdout.strip()[-300:])

subprocess.run(cmd, check=True)


def stop():
    try:
        with open(os.path.join(d, "var", "nginx.pid")) as f:
            os.kill(int(f.read()), signal.SIGTERM)
    except (OSError, ValueError):
        pass


at_cleanup(stop)


def api(method, path, token=None, body=None):
    h = {"Authorization": "Bearer " + token} if token else {}
    if body is not None:
        h["Content-Type"] = "application/json"
    return request(method, mgmt, path, body, h)


ok(wait_for(lambda: api("GET", "/v1/providers", READ).status == 200,
            timeout=10), "the example runs")

is_(api("GET", "/v1/providers").status, 401, "a read without a token: 401")
is_(api("GET", "/v1/costs", READ).status, 200, "with the read token: 200")
r = api("POST", "/v1/providers", READ,
        {"provider_id": "x", "provider_type": "openai", "api_key": "k",
         "base_url": "https://93.184.216.34"})
is_(r.status, 403, "the read token cannot write: 403")

for base in ("http://127.0.0.1:8080", "http://10.0.0.8",
             "http://169.254.169.254"):
    r = api("POST", "/v1/providers", ADMIN,
            {"provider_id": "local", "provider_type": "openai",
             "api_key": "k", "base_url": base})
    is_((r.status, (r.json() or {}).get("error")),
        (400, "destination_refused"),
        "the admin token, a provider at %s: 400 destination_refused" % base)

r = api("POST", "/v1/providers", ADMIN,
        {"provider_id": "pub", "provider_type": "openai", "api_key": "k",
         "base_url": "https://93.184.216.34"})
is_(r.status, 200, "a provider at a public address: created")

r = get(svc, "/health", tls=True)
is_(r.status, 401, "the service API on the public port asks for a token "
    "too (voicegw_api_auth all)")

with open(os.path.join(ROOT, "conf", "voicegw.conf")) as f:
    default = f.read()
ok(re.search(r"voicegw_provider_destinations\s+public loopback;", default)
   and not re.search(r"^\s*voicegw_api_key", default, re.M),
   "the default conf/voicegw.conf keeps this machine's providers and an "
   "open local API")

tap.done()
