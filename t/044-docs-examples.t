#!/usr/bin/env python3
#
# t/044-docs-examples.t -- the curl examples of docs/api.md's sections
# "Providers, models and projects" and "Reports" run, in document order,
# against the nginx configuration those sections give (issue 4 item 10).
#
# Each ```sh block is run with bash (its `curl` answers into a file); the
# block that follows it is the documented answer of its last command:
#   - in "Providers, models and projects", the JSON answer must equal the
#     documented one, but for values that change from run to run
#     (VOLATILE keys);
#   - in "Reports" (the examples show data this run has not recorded), the
#     answer must have the documented top-level fields, and /v1/metrics
#     every documented HELP and TYPE line.
# Every command must answer 2xx.

import json
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, Nginx, free_port, is_, ok, tap,  # noqa: E402
                    workdir,
                    doc_blocks, doc_commands, doc_run)

VOLATILE = {"latency_ms", "timestamp", "id", "status", "http_status",
            "message"}

d = workdir("044-docs-examples")
port = free_port()

with open(os.path.join(ROOT, "docs", "api.md")) as f:
    doc = f.read()


def section(title):
    m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), doc,
                  re.M | re.S)
    if not m:
        raise SystemExit("docs/api.md has no section %r" % title)
    return m.group(1)


entities = section("Providers, models and projects")
reports = section("Reports")

# -- the configuration of the examples -------------------------------------

conf = next(b for lang, b in doc_blocks(entities) if lang == "nginx")
token = re.search(r"voicegw_api_key\s+(\S+)[^;]*scope=write", conf).group(1)

secret = os.path.join(d, "voicegw.key")
with open(secret, "wb") as f:
    f.write(os.urandom(32))
os.chmod(secret, 0o600)

conf = re.sub(r"voicegw_store\s+\S+;", "voicegw_store data/voicegw.db;", conf)
conf = re.sub(r"voicegw_secret\s+\S+;", "voicegw_secret %s;" % secret, conf)
conf = re.sub(r"listen\s+8080;", "listen %d;" % port, conf)
ok("voicegw_store data/" in conf and str(port) in conf,
   "the documented configuration was adapted to this test")

env = dict(os.environ, VOICEGW_TOKEN=token,
           DEEPGRAM_API_KEY="dg-EXAMPLE-0123456789abcdef")

ngx = Nginx(os.path.join(d, "nginx"), conf, workers=2)
saved = os.environ.get("DEEPGRAM_API_KEY")
os.environ["DEEPGRAM_API_KEY"] = env["DEEPGRAM_API_KEY"]
ngx.start(wait_ports=[port])
if saved is None:
    del os.environ["DEEPGRAM_API_KEY"]
else:
    os.environ["DEEPGRAM_API_KEY"] = saved

# -- running the examples ---------------------------------------------------

out = os.path.join(d, "answer")


def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v


def check(title, exact, bl):
    n = 0
    for i, (lang, body) in enumerate(bl):
        if lang != "sh" or "curl" not in body:
            continue
        cmds = doc_commands(body)
        for cmd in cmds:
            n += 1
            rc, status, answer, _ = doc_run(cmd, port, out, env=env)
            short = re.sub(r"\s+", " ", cmd)[:90]
            ok(rc == 0 and status.startswith("2"),
               "%s: %s -> %s" % (title, short, status))
        if i + 1 >= len(bl) or bl[i + 1][0] == "sh":
            continue
        want_lang, want = bl[i + 1]
        if want_lang == "json":
            try:
                got = json.loads(answer)
            except ValueError:
                ok(False, "%s: %s answers JSON" % (title, short))
                tap.diag(answer[:300])
                continue
            want = json.loads(want)
            if exact:
                is_(strip(got), strip(want),
                    "%s: %s answers as documented" % (title, short))
            elif isinstance(want, dict) and all("/" in k for k in want):
                # keyed by model id: the fields of each model
                fields = sorted(next(iter(want.values())))
                ok(isinstance(got, dict)
                   and all(sorted(v) == fields for v in got.values()),
                   "%s: %s is keyed by model, with the documented fields"
                   % (title, short))
            elif isinstance(want, dict):
                is_(sorted(got), sorted(want),
                    "%s: %s has the documented fields" % (title, short))
            else:
                ok(isinstance(got, list) and got
                   and sorted(got[0]) == sorted(want[0]),
                   "%s: %s answers an array of the documented records"
                   % (title, short))
        else:
            lines = [l for l in want.splitlines() if l.startswith("# ")]
            missing = [l for l in lines if l not in answer.splitlines()]
            is_(missing, [], "%s: %s has every documented HELP and TYPE"
                % (title, short))
    return n


n = check("entities", True, doc_blocks(entities))
ok(n >= 14, "every endpoint of the section has an example (%d commands)" % n)
# a few accounted requests of today, for the reports to show
now_ms = int(time.time() * 1000)
db = sqlite3.connect(os.path.join(d, "nginx", "data", "voicegw.db"),
                     timeout=10)
with db:
    db.executemany(
        "INSERT INTO requests (ts, project, modality, model_id, provider,"
        " input_units, output_units, cost_usd, ttfb_ms, total_latency_ms,"
        " status, http_status) VALUES (?, 'tonys-pizza', ?, ?, ?, ?, ?, ?,"
        " ?, ?, 'success', 200)",
        [(now_ms - 1000 * i, "stt", "deepgram/nova-3", "deepgram", 1.5, 0,
          0.00645, 50 + i, 500 + 10 * i) for i in range(6)]
        + [(now_ms - 500 * i, "llm", "openai/gpt-4o-mini", "openai", 800,
            120, 0.0002, 300 + i, 900 + i) for i in range(4)])
db.close()

n = check("reports", False, doc_blocks(reports))
ok(n >= 4, "every report has an example (%d commands)" % n)

ok(ngx.stop(), "nginx stopped")
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")

sys.exit(tap.done())
