#!/usr/bin/env python3
#
# bench/reports.py -- the report endpoints over a large request log (SPEC
# 9: "/v1/costs?period=month over 1M records <= 5 ms p50"), called by
# "bench/run.sh reports".
#
# 1,000,000 rows go into the store's requests table (30 days, 8 models,
# 5 projects; the store's trigger keeps the daily rollups, as it will for
# the recorder), then, with one nginx worker:
#   - wrk -c1 (one request at a time: latency) and -c50 (throughput) on
#     /v1/costs?period=month, /v1/costs?period=month&project=p1 and
#     /v1/latency?period=month;
#   - the same against plain nginx serving each answer's exact bytes as a
#     static file, in the same run: the ratio is the cost of the report.
# ROWS=N changes the number of rows.

import os
import random
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pool import out, stop, workdir, wrk, nginx  # noqa: E402
import vgtest as vg  # noqa: E402

ROWS = int(os.environ.get("ROWS", "1000000"))
MODELS = [("deepgram", "deepgram/nova-3", "stt"),
          ("deepgram", "deepgram/nova-2", "stt"),
          ("openai", "openai/gpt-4o-mini", "llm"),
          ("openai", "openai/gpt-4o", "llm"),
          ("anthropic", "anthropic/claude-haiku", "llm"),
          ("groq", "groq/llama-3.1-8b", "llm"),
          ("cartesia", "cartesia/sonic-2", "tts"),
          ("elevenlabs", "elevenlabs/flash-v2.5", "tts")]
PROJECTS = ["p%d" % i for i in range(1, 6)]


def fill(db_path):
    rnd = random.Random(7)
    now = int(time.time() * 1000)
    span = 30 * 86400 * 1000
    db = sqlite3.connect(db_path, timeout=30)
    t0 = time.monotonic()
    batch = []
    for i in range(ROWS):
        prov, model, mod = MODELS[i % len(MODELS)]
        batch.append((now - rnd.randrange(span), PROJECTS[i % 5], mod, model,
                      prov, 1.0, 0.0, rnd.random() / 100,
                      20 + rnd.random() * 200, 200 + rnd.random() * 2000))
        if len(batch) == 20000:
            with db:
                db.executemany(
                    "INSERT INTO requests (ts, project, modality, model_id,"
                    " provider, input_units, output_units, cost_usd, ttfb_ms,"
                    " total_latency_ms, status, http_status) VALUES (?, ?, ?,"
                    " ?, ?, ?, ?, ?, ?, ?, 'success', 200)", batch)
            batch = []
    if batch:
        with db:
            db.executemany(
                "INSERT INTO requests (ts, project, modality, model_id,"
                " provider, input_units, output_units, cost_usd, ttfb_ms,"
                " total_latency_ms, status, http_status) VALUES (?, ?, ?, ?,"
                " ?, ?, ?, ?, ?, ?, 'success', 200)", batch)
    n = db.execute("SELECT count(*) FROM requests").fetchone()[0]
    days = db.execute("SELECT count(*) FROM daily").fetchone()[0]
    db.close()
    return n, days, time.monotonic() - t0


def main():
    d = workdir("reports")
    port = vg.free_port()
    html = os.path.join(d, "html")
    os.makedirs(html)
    ng = nginx(d, """
    voicegw_zone vg_bench 16m;
    voicegw_store data/vg.db;
    server {
        listen 127.0.0.1:%d;
        location /v1/ { voicegw_api; }
        location /plain/ { alias %s/; default_type application/json; }
    }
""" % (port, html))
    ng.start(wait_ports=[port])
    vg.wait_for(lambda: os.path.exists(os.path.join(d, "data", "vg.db")))
    time.sleep(0.5)

    n, days, took = fill(os.path.join(d, "data", "vg.db"))
    out("reports", "%d rows in the request log (%d daily rollup rows), "
        "inserted in %.1f s", n, days, took)

    urls = [("costs month", "/v1/costs?period=month"),
            ("costs month, one project", "/v1/costs?period=month&project=p1"),
            ("latency month", "/v1/latency?period=month")]
    for i, (name, path) in enumerate(urls):
        body = vg.get(port, path).body
        with open(os.path.join(html, "%d.json" % i), "wb") as f:
            f.write(body)
        base = "http://127.0.0.1:%d" % port
        one = wrk(base + path, conns=1)
        many = wrk(base + path, conns=50)
        p_one = wrk(base + "/plain/%d.json" % i, conns=1)
        p_many = wrk(base + "/plain/%d.json" % i, conns=50)
        out("reports", "%s (%d bytes): p50 %.3f ms p99 %.3f ms at c=1 "
            "(plain file p50 %.3f ms); %.0f req/s at c=50 vs plain %.0f "
            "req/s, ratio %.4f%s", name, len(body), one["lat"].get(50, -1),
            one["lat"].get(99, -1), p_one["lat"].get(50, -1), many["rps"],
            p_many["rps"], many["rps"] / p_many["rps"] if p_many["rps"] else 0,
            "" if not (one["non2xx"] or many["non2xx"] or many["errors"])
            else " WARNING non-2xx or errors")
    stop(ng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
