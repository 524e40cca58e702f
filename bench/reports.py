#!/usr/bin/env python3
#
# bench/reports.py -- the report endpoints over a large request log (SPEC
# 9: "/v1/costs?period=month over 1M records <= 5 ms p50"), called by
# "bench/run.sh reports".
#
# 1,000,000 rows go into the store's requests table (30 days, 8 models,
# 5 projects), with their rollups built at once in SQL (the same tables
# the recorder's batches keep; bench/records.py measures the recording
# itself, whose rows all fall on today), then, with one nginx worker:
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


INSERT = ("INSERT INTO requests (ts, project, modality, model_id, provider,"
          " input_units, output_units, cost_usd, ttfb_ms, total_latency_ms,"
          " status, http_status, rolled_up) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
          " ?, ?, 'success', 200, 1)")

DAY = "strftime('%Y-%m-%d', ts / 1000, 'unixepoch')"
BUCKET = "CAST(floor(ln(max({0}, 0.001)) / ln(1.02)) AS INTEGER)"

# the rollups of rows inserted with rolled_up = 1, as set-based SQL: the
# same tables the recorder's batches (and the import trigger) keep, built
# at once rather than a row at a time
ROLLUPS = [
    "INSERT INTO daily (day, project, provider, model_id, modality, requests,"
    " errors, cost_usd, input_units, output_units, ttfb_sum, ttfb_n,"
    " latency_sum, latency_n)"
    " SELECT " + DAY + ", project, provider, model_id, modality, count(*),"
    " sum(status != 'success'), total(cost_usd), total(input_units),"
    " total(output_units), total(ttfb_ms), count(ttfb_ms),"
    " total(total_latency_ms), count(total_latency_ms) FROM requests"
    " GROUP BY 1, 2, 3, 4, 5",
    "CREATE TEMP TABLE h AS"
    " SELECT " + DAY + " AS day, project, model_id, 'ttfb' AS kind, "
    + BUCKET.format("ttfb_ms") + " AS bucket, count(*) AS n FROM requests"
    " WHERE ttfb_ms IS NOT NULL GROUP BY 1, 2, 3, 5"
    " UNION ALL SELECT " + DAY + ", project, model_id, 'total', "
    + BUCKET.format("total_latency_ms") + ", count(*) FROM requests"
    " WHERE total_latency_ms IS NOT NULL GROUP BY 1, 2, 3, 5",
    "INSERT INTO h SELECT day, '*', model_id, kind, bucket, sum(n) FROM h"
    " GROUP BY day, model_id, kind, bucket",
    "INSERT INTO latency_days SELECT DISTINCT project, model_id, kind, day"
    " FROM h",
    "INSERT INTO latency_cum SELECT d.project, d.model_id, d.kind, d.day,"
    " h.bucket, sum(h.n) FROM latency_days AS d JOIN h"
    " ON h.project = d.project AND h.model_id = d.model_id"
    " AND h.kind = d.kind AND h.day <= d.day"
    " GROUP BY 1, 2, 3, 4, 5",
]


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
                db.executemany(INSERT, batch)
            batch = []
    if batch:
        with db:
            db.executemany(INSERT, batch)
    with db:
        for sql in ROLLUPS:
            db.execute(sql)
    n = db.execute("SELECT count(*) FROM requests").fetchone()[0]
    days = db.execute("SELECT count(*) FROM daily").fetchone()[0]
    cum = db.execute("SELECT count(*) FROM latency_cum").fetchone()[0]
    db.close()
    return n, days, cum, time.monotonic() - t0


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

    n, days, cum, took = fill(os.path.join(d, "data", "vg.db"))
    out("reports", "%d rows in the request log (%d daily rollup rows, %d "
        "cumulative histogram rows), inserted in %.1f s", n, days, cum, took)

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
