#!/usr/bin/env python3
#
# t/036-retired-pools.t -- a pool gone from nginx.conf is freed once no
# process of an older configuration uses it (docs/pool.md, "Reload,
# restart, crashes"): its zone memory comes back and it stops counting
# toward the limit of 16 pools, so that renaming an upstream over many
# reloads keeps working.

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (FakeWorker, Nginx, free_port, get, is_, never_two,  # noqa
                    ok, request, tap, wait_for, workdir)

d = workdir("036-retired-pools")
port = free_port()
W = FakeWorker(d, args=["--chat-ms", "20"]).start()
RELOADS = 20


def conf(name):
    return """
    voicegw_zone vg_retired 1m;
    upstream %(name)s {
        voicegw_pool queue=10 queue_timeout=5s health_interval=1s;
        server 127.0.0.1:%(w)d;
    }
    server {
        listen 127.0.0.1:%(port)d;
        location = /chat {
            voicegw_task chat pool=%(name)s;
            proxy_pass http://%(name)s/chat;
        }
        location / { voicegw_api; }
    }
""" % {"name": name, "w": W.port, "port": port}


def pools():
    return sorted(set(w["pool"] for w in get(port, "/workers").json()
                      ["workers"]))


def served(name):
    r = request("POST", port, "/chat",
                body={"messages": [{"role": "user", "content": name}]},
                headers={"Content-Type": "application/json"})
    return r.status == 200


ngx = Nginx(d, conf("p0"), workers=2)
ngx.start(wait_ports=[port])
ok(wait_for(lambda: served("p0")), "p0 serves")

failed = []
for i in range(1, RELOADS + 1):
    name, gone = "p%d" % i, "p%d" % (i - 1)
    if not ngx.reload(conf(name)):
        failed.append((name, "reload"))
        break
    freed = wait_for(lambda: ('pool "%s" is gone from nginx.conf and no '
                              'process uses it any more: freed' % gone)
                     in ngx.error_log(), timeout=10)
    if not freed:
        failed.append((name, "%s not freed" % gone))
    if not wait_for(lambda: pools() == [name] and served(name)):
        failed.append((name, "pools %r" % pools()))
        break

is_(failed, [], "%d reloads, each renaming the pool's upstream: each "
    "reload goes ahead, the old pool is freed and the new one serves"
    % RELOADS)
is_(pools(), ["p%d" % RELOADS], "/workers shows the last pool only")
ok(never_two(W), "the worker never ran two tasks at once")
is_(ngx.alerts(), [], "no [alert], [emerg] or [crit] in the error log")

ngx.stop()
sys.exit(tap.done())
