#!/usr/bin/env python3
#
# t/040-reports.t -- the VoiceGateway reports: /v1/costs, /v1/latency,
# /v1/logs and /v1/metrics over request rows written straight into the
# store's "requests" table (the rollup trigger does the rest), with rows of
# today, yesterday, 10 and 40 days ago.  Costs by UTC calendar window with
# grouping, ordering and the project filter; latency averages exact and
# percentiles within 2 % of numpy's linear ones; logs newest first with
# their filters and bounds; metrics that parse as Prometheus text with the
# right values; empty shapes without rows and without a store.

import calendar
import os
import random
import re
import shutil
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (Nginx, diag, free_port, get, is_, like, ok, request,  # noqa
                    tap, wait_for, workdir)

DAY = 86400

# not across midnight UTC: "today" must be the same day for the whole run
# (deliberate sleeps: until the clock is past midnight)
if DAY - time.time() % DAY < 60:
    time.sleep(DAY - time.time() % DAY + 1)
while time.time() % DAY < 3:
    time.sleep(1)

d = workdir("040-reports")
port = free_port()
dead1, dead2 = free_port(), free_port()

# rows 40 days old are inserted below and /v1/logs must list them: a
# retention longer than that, or the flusher's pass a minute after the
# first (a slow run gets there) deletes them
CONF = """
    voicegw_zone  vg_reports 4m;
    voicegw_provider_destinations public loopback;
    voicegw_store data/vg.db retention=400d;
    voicegw_provider deepgram type=deepgram key=sk-test-0123456789;
    voicegw_provider openai type=openai key=sk-test-abcdefghij;
    voicegw_project tonys-pizza name=Tony;
    upstream gpu {
        voicegw_pool queue=10 health_interval=1s health_timeout=1s;
        server 127.0.0.1:%(w1)d;
        server 127.0.0.1:%(w2)d;
    }
    server {
        listen 127.0.0.1:%(port)d;
        location / { voicegw_api; }
    }
""" % {"port": port, "w1": dead1, "w2": dead2}

ngx = Nginx(d, CONF, workers=2).start(wait_ports=[port])
ok(wait_for(lambda: ngx.error_log().count("ready, schema version 5") >= 2),
   "both worker processes opened the store")

db_path = os.path.join(d, "data", "vg.db")


def getj(path):
    r = get(port, path)
    return r.status, r.json()


def close(a, b, rel=1e-9, abs_=1e-9):
    return a is not None and b is not None and \
        abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


def utc_day(ts):
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


now = time.time()
today_start = now - now % DAY
TODAY = utc_day(now)
SINCE = {"today": TODAY, "week": utc_day(now - 6 * DAY),
         "month": utc_day(now - 29 * DAY), "all": ""}


# -- no rows yet: zeros and empty shapes -------------------------------------

st, c = getj("/v1/costs")
is_(st, 200, "costs answer with no rows")
is_(c, {"period": "today", "project": None, "total": 0.0, "by_provider": {},
        "by_model": {}, "by_project": {}}, "costs: zeros and empty groups")
is_(getj("/v1/latency"), (200, {}), "latency: {} with no rows")
is_(getj("/v1/logs"), (200, []), "logs: [] with no rows")


# -- rows --------------------------------------------------------------------

rnd = random.Random(40)

PROVIDERS = {"deepgram/nova-3": ("deepgram", "stt"),
             "openai/gpt-4o-mini": ("openai", "llm"),
             "openai/tts-1": ("openai", "tts"),
             "cartesia/sonic-3": ("cartesia", "tts")}
PROJECTS = ["tonys-pizza", "default", "acme.support"]

rows = []


def add(ts, model, project, cost, ttfb, latency, status="success",
        http_status=200):
    provider, modality = PROVIDERS[model]
    rows.append({"ts": int(ts * 1000), "project": project,
                 "modality": modality, "model_id": model,
                 "provider": provider, "input_units": rnd.randint(1, 900),
                 "output_units": rnd.randint(0, 50), "cost_usd": cost,
                 "ttfb_ms": ttfb, "total_latency_ms": latency,
                 "status": status, "http_status": http_status})


def sample_ms(scale):
    return round(rnd.lognormvariate(0, 0.6) * scale, 3)


# today: several hundred rows, latencies spread over a decade
span = min(now - today_start - 1, 3600)
for i in range(420):
    model = rnd.choice(list(PROVIDERS))
    project = PROJECTS[i % 3]
    ttfb = None if i % 17 == 0 else sample_ms(80)
    lat = None if i % 23 == 0 else sample_ms(600)
    add(now - rnd.uniform(0, span), model, project,
        round(rnd.uniform(0.0001, 0.02), 6), ttfb, lat,
        "error" if i % 29 == 0 else "success", 500 if i % 29 == 0 else 200)

# one request with no latency at all, on a model of its own
add(now - 1, "cartesia/sonic-3", "acme.support", 0.5, None, None)

# yesterday, 10 and 40 days ago: at noon UTC
for days, n, scale in ((1, 60, 1.0), (10, 40, 3.0), (40, 30, 9.0)):
    noon = today_start - days * DAY + DAY / 2
    for i in range(n):
        model = rnd.choice(list(PROVIDERS)[:3])
        add(noon + i, model, PROJECTS[i % 3], round(0.01 * scale, 6),
            sample_ms(50 * scale), sample_ms(500 * scale))

# a latency of exactly 0 ms and one under 1 ms
add(now - 2, "deepgram/nova-3", "default", 0.0, 0.0, 0.5)

db = sqlite3.connect(db_path, timeout=10)
with db:
    db.executemany(
        "INSERT INTO requests (ts, project, modality, model_id, provider,"
        " input_units, output_units, cost_usd, ttfb_ms, total_latency_ms,"
        " status, http_status) VALUES (:ts, :project, :modality, :model_id,"
        " :provider, :input_units, :output_units, :cost_usd, :ttfb_ms,"
        " :total_latency_ms, :status, :http_status)", rows)
ids = [r[0] for r in db.execute("SELECT id FROM requests ORDER BY id")]
for row, rid in zip(rows, ids):
    row["id"] = rid
db.close()
ok(len(ids) == len(rows), "%d request rows inserted" % len(rows))


def in_window(row, period, project=None):
    return utc_day(row["ts"] / 1000) >= SINCE[period] and \
        (project is None or row["project"] == project)


# -- costs -------------------------------------------------------------------

def expected_costs(period, project=None):
    groups = {"by_provider": {}, "by_model": {}, "by_project": {}}
    total = 0.0
    for row in rows:
        if not in_window(row, period, project):
            continue
        total += row["cost_usd"]
        for g, k in (("by_provider", row["provider"]),
                     ("by_model", row["model_id"]),
                     ("by_project", row["project"])):
            e = groups[g].setdefault(k, {"cost": 0.0, "requests": 0})
            e["cost"] += row["cost_usd"]
            e["requests"] += 1
    return total, groups


def check_costs(period, project=None):
    q = "/v1/costs?period=%s" % period
    if project:
        q += "&project=" + project
    st, c = getj(q)
    name = "costs %s%s" % (period, " of " + project if project else "")
    if not is_(st, 200, name + ": 200"):
        return
    total, groups = expected_costs(period, project)
    is_(c["period"], period, name + ": period echoed")
    is_(c["project"], project, name + ": project echoed")
    ok(close(c["total"], total, 1e-9, 1e-9),
       name + ": total %.6f == %.6f" % (c["total"], total))
    for g in ("by_provider", "by_model", "by_project"):
        got = c[g]
        exp = groups[g]
        is_(sorted(got), sorted(exp), name + ": %s keys" % g)
        ok(all(k in got and got[k]["requests"] == exp[k]["requests"]
               and close(got[k]["cost"], exp[k]["cost"]) for k in exp),
           name + ": %s costs and requests" % g)
        costs = [v["cost"] for v in got.values()]
        ok(costs == sorted(costs, reverse=True),
           name + ": %s ordered by cost, highest first" % g)
    ok(close(sum(v["cost"] for v in c["by_provider"].values()), c["total"]),
       name + ": providers add up to the total")


for period in ("today", "week", "month", "all"):
    check_costs(period)

check_costs("week", "tonys-pizza")
check_costs("all", "acme.support")

st, c = getj("/v1/costs")
is_(c["period"], "today", "period defaults to today")
ok(close(c["total"], expected_costs("today")[0]), "with today's total")

n_today = sum(1 for r in rows if in_window(r, "today"))
n_week = sum(1 for r in rows if in_window(r, "week"))
n_month = sum(1 for r in rows if in_window(r, "month"))
ok(n_today < n_week < n_month < len(rows),
   "the windows differ (%d < %d < %d < %d)"
   % (n_today, n_week, n_month, len(rows)))

st, c = getj("/v1/costs?period=week&project=nobody-here")
is_((st, c["total"], c["by_provider"], c["by_project"]),
    (200, 0.0, {}, {}), "an unknown project: zeros")

for bad in ("year", "", "TODAY", "today%00", "week;drop"):
    st, c = getj("/v1/costs?period=" + bad)
    is_((st, c and c.get("error")), (400, "invalid_query"),
        "period=%r is refused with 400 invalid_query" % bad)
    ok(c is not None and isinstance(c.get("detail"), str),
       "with a detail")

for bad in ("Tonys", "-x", "a" * 65, "a%20b", "%ff"):
    st, c = getj("/v1/costs?project=" + bad)
    is_((st, c and c.get("error")), (400, "invalid_query"),
        "project=%r is refused" % bad)

st, c = getj("/v1/costs?project=")
is_((st, c["project"]), (200, None), "an empty project is no filter")

st, c = getj("/v1/costs?period=w%65ek")
is_((st, c["period"]), (200, "week"), "arguments are unescaped")


# -- latency -----------------------------------------------------------------

def percentile(samples, p):
    """numpy.percentile(samples, p), method "linear"."""
    s = sorted(samples)
    if not s:
        return None
    h = (len(s) - 1) * p / 100.0
    lo = int(h)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (h - lo) * (s[hi] - s[lo])


def within(got, exact, rel=0.02):
    if exact is None:
        return got is None
    if got is None:
        return False
    if exact < 0.01:
        return abs(got - exact) < 0.01
    return abs(got - exact) <= rel * exact


def check_latency(period, project=None):
    q = "/v1/latency?period=%s" % period
    if project:
        q += "&project=" + project
    name = "latency %s%s" % (period, " of " + project if project else "")
    st, lat = getj(q)
    if not is_(st, 200, name + ": 200"):
        return
    models = {}
    for row in rows:
        if in_window(row, period, project):
            models.setdefault(row["model_id"], []).append(row)
    is_(sorted(lat), sorted(models), name + ": one entry per model")
    bad = []
    for model, mrows in models.items():
        got = lat.get(model)
        if got is None:
            bad.append("%s missing" % model)
            continue
        ttfb = [r["ttfb_ms"] for r in mrows if r["ttfb_ms"] is not None]
        total = [r["total_latency_ms"] for r in mrows
                 if r["total_latency_ms"] is not None]
        if got["request_count"] != len(mrows):
            bad.append("%s request_count %r != %d"
                       % (model, got["request_count"], len(mrows)))
        if (got["ttfb_samples"], got["latency_samples"]) != \
                (len(ttfb), len(total)):
            bad.append("%s samples" % model)
        for key, samples in (("avg_ttfb_ms", ttfb),
                             ("avg_latency_ms", total)):
            exact = sum(samples) / len(samples) if samples else None
            if not ((exact is None and got[key] is None) or
                    close(got[key], exact, 1e-9, 0.001)):
                bad.append("%s %s %r != %r" % (model, key, got[key], exact))
        for key, samples in (("ttfb_percentiles", ttfb),
                             ("latency_percentiles", total)):
            if sorted(got[key]) != ["p50", "p95", "p99"]:
                bad.append("%s %s keys %r" % (model, key, sorted(got[key])))
                continue
            for p in (50, 95, 99):
                exact = percentile(samples, p)
                if not within(got[key]["p%d" % p], exact):
                    bad.append("%s %s p%d %r, exact %r"
                               % (model, key, p, got[key]["p%d" % p], exact))
    ok(not bad, name + ": averages, counts and percentiles within 2 %")
    for b in bad[:10]:
        diag(b)
    return lat


lat = check_latency("today")
for period in ("week", "month", "all"):
    check_latency(period)
check_latency("month", "tonys-pizza")
check_latency("all", "default")

son = lat.get("cartesia/sonic-3", {})
ok(son.get("request_count", 0) >= 1, "a model with a request without "
   "latency is listed")

st, one = getj("/v1/latency?period=today&project=acme.support")
ok(st == 200 and "cartesia/sonic-3" in one, "latency of one project")

# a single sample: every percentile is that sample
st, one = getj("/v1/latency?period=all&project=nobody")
is_((st, one), (200, {}), "latency of an unknown project: {}")

db = sqlite3.connect(db_path, timeout=10)
with db:
    db.execute("INSERT INTO requests (ts, project, modality, model_id,"
               " provider, cost_usd, ttfb_ms, total_latency_ms) VALUES"
               " (?, 'solo', 'llm', 'groq/llama-3.1-8b', 'groq', 0, 123.4,"
               " NULL)", (int(now * 1000) - 5,))
db.close()
st, one = getj("/v1/latency?project=solo")
s = one.get("groq/llama-3.1-8b", {})
ok(st == 200 and all(within(s["ttfb_percentiles"][k], 123.4, 0.01)
                     for k in ("p50", "p95", "p99")),
   "one sample: every percentile within 1 % of it")
is_((s.get("avg_ttfb_ms"), s.get("avg_latency_ms"),
     s.get("latency_percentiles")),
    (123.4, None, {"p50": None, "p95": None, "p99": None}),
    "no total latency: null average and percentiles")
rows.append({"ts": int(now * 1000) - 5, "project": "solo", "modality": "llm",
             "model_id": "groq/llama-3.1-8b", "provider": "groq",
             "input_units": 0.0, "output_units": 0.0, "cost_usd": 0.0,
             "ttfb_ms": 123.4, "total_latency_ms": None,
             "status": "success", "http_status": None, "id": len(rows) + 1})

for bad in ("year", "", "Week"):
    st, c = getj("/v1/latency?period=" + bad)
    is_((st, c and c.get("error")), (400, "invalid_query"),
        "latency period=%r is refused" % bad)


# -- logs --------------------------------------------------------------------

FIELDS = ["id", "timestamp", "project", "modality", "model_id", "provider",
          "input_units", "output_units", "cost_usd", "ttfb_ms",
          "total_latency_ms", "status", "http_status", "flags"]


def newest(filter_=lambda r: True, n=100):
    s = sorted((r for r in rows if filter_(r)),
               key=lambda r: (r["ts"], r["id"]), reverse=True)
    return s[:n]


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
        ".%03dZ" % (ms % 1000)


def check_logs(query, filter_, n, name):
    st, logs = getj("/v1/logs" + query)
    if not is_(st, 200, name + ": 200"):
        return
    exp = newest(filter_, n)
    is_(len(logs), len(exp), name + ": %d records" % len(exp))
    is_([r["id"] for r in logs], [r["id"] for r in exp],
        name + ": newest first")
    bad = [r for r in logs if list(r) != FIELDS]
    ok(not bad, name + ": the record fields")
    ts = [calendar.timegm(time.strptime(r["timestamp"][:19],
                                        "%Y-%m-%dT%H:%M:%S"))
          for r in logs]
    ok(ts == sorted(ts, reverse=True), name + ": timestamps descending")
    return logs


logs = check_logs("", lambda r: True, 100, "logs")
byid = {r["id"]: r for r in rows}
mism = []
for rec in logs or []:
    row = byid[rec["id"]]
    for f in FIELDS:
        if f == "flags":
            if rec[f] != []:
                mism.append((rec["id"], f, rec[f], []))
        elif f == "timestamp":
            if rec[f] != iso(row["ts"]):
                mism.append((rec["id"], f, rec[f], iso(row["ts"])))
        elif isinstance(row[f], float) or isinstance(rec[f], float):
            if not ((row[f] is None and rec[f] is None)
                    or close(float(rec[f]), float(row[f]))):
                mism.append((rec["id"], f, rec[f], row[f]))
        elif rec[f] != row[f]:
            mism.append((rec["id"], f, rec[f], row[f]))
ok(not mism, "logs: every field as stored, timestamps ISO-8601 UTC")
for m in mism[:5]:
    diag(m)
ok(any(r["ttfb_ms"] is None for r in
       (check_logs("?limit=1000", lambda r: True, 1000, "logs limit=1000")
        or [])), "a NULL latency is null")

check_logs("?limit=1", lambda r: True, 1, "logs limit=1")
check_logs("?limit=7&modality=stt", lambda r: r["modality"] == "stt", 7,
           "logs of stt")
check_logs("?modality=tts&project=acme.support&limit=1000",
           lambda r: r["modality"] == "tts" and r["project"] == "acme.support",
           1000, "logs of tts and one project")
check_logs("?project=tonys-pizza&limit=50",
           lambda r: r["project"] == "tonys-pizza", 50, "logs of a project")
check_logs("?modality=&project=", lambda r: True, 100,
           "empty filters are no filters")
is_(getj("/v1/logs?project=nobody"), (200, []), "logs of nobody: []")

for bad in ("0", "1001", "-1", "abc", "", "10x", "99999999999999999999",
            "1e3"):
    st, c = getj("/v1/logs?limit=" + bad)
    is_((st, c and c.get("error")), (400, "invalid_query"),
        "limit=%r is refused" % bad)
for bad in ("video", "STT", "stt%00"):
    st, c = getj("/v1/logs?modality=" + bad)
    is_((st, c and c.get("error")), (400, "invalid_query"),
        "modality=%r is refused" % bad)
is_(getj("/v1/logs?limit=1000")[0], 200, "limit=1000 is the largest")


# -- metrics -----------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
                   r'(,|$)')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1),
                                                     m.group(1)), v)


def parse_metrics(text):
    """{(name, frozenset(labels)): value}, and a list of problems."""
    problems = []
    helps, types, samples, seen = {}, {}, {}, []
    if not text.endswith("\n"):
        problems.append("the last line does not end with \\n")
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            if name in helps:
                problems.append("two HELP for " + name)
            helps[name] = line
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in ("counter", "gauge",
                                                   "histogram", "summary",
                                                   "untyped"):
                problems.append("bad TYPE line " + line)
            types[parts[2]] = parts[3]
            if parts[2] not in helps:
                problems.append("TYPE before HELP for " + parts[2])
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append("not a sample line: %r" % line)
            continue
        name, labels_text, value = m.group(1), m.group(3), m.group(4)
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[:-len(suffix)] in types:
                family = name[:-len(suffix)]
        if family not in helps or family not in types:
            problems.append("no HELP/TYPE for " + name)
        if seen and seen[-1] != family and family in seen:
            problems.append("family %s is not contiguous" % family)
        seen.append(family)
        labels = {}
        pos = 0
        while labels_text and pos < len(labels_text):
            lm = LABEL.match(labels_text, pos)
            if not lm:
                problems.append("bad labels %r" % labels_text)
                break
            labels[lm.group(1)] = unescape(lm.group(2))
            pos = lm.end()
        try:
            v = float(value)
        except ValueError:
            problems.append("bad value %r" % line)
            continue
        key = (name, frozenset(labels.items()))
        if key in samples:
            problems.append("duplicate sample " + line)
        samples[key] = v
    return samples, types, problems


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


# a label value that needs escaping, and a store-only provider and project
WEIRD = 'weird/m"o\\d\nel'
db = sqlite3.connect(db_path, timeout=10)
with db:
    db.execute("INSERT INTO requests (ts, project, modality, model_id,"
               " provider, cost_usd, ttfb_ms, total_latency_ms) VALUES"
               " (?, 'default', 'llm', ?, 'weird', 0.25, 10, 20)",
               (int(now * 1000) - 3, WEIRD))
    db.execute("INSERT INTO providers (id, type, created_at, updated_at)"
               " VALUES ('deepgram-staging', 'deepgram', 'x', 'x'),"
               " ('openai', 'openai', 'x', 'x')")
    db.execute("INSERT INTO projects (id, name, created_at, updated_at)"
               " VALUES ('new-app', 'New', 'x', 'x')")
db.close()
rows.append({"ts": int(now * 1000) - 3, "project": "default",
             "modality": "llm", "model_id": WEIRD, "provider": "weird",
             "input_units": 0.0, "output_units": 0.0, "cost_usd": 0.25,
             "ttfb_ms": 10.0, "total_latency_ms": 20.0, "status": "success",
             "http_status": None, "id": len(rows) + 1})

# wait for the health checks to have seen the dead workers
ok(wait_for(lambda: all(w["status"] == "offline"
                        for w in get(port, "/workers").json()["workers"]),
            timeout=5), "the health checks found both dead workers offline")

r = get(port, "/v1/metrics")
is_(r.status, 200, "metrics: 200")
is_(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8",
    "metrics: the Prometheus content type")
samples, types, problems = parse_metrics(r.text)
ok(not problems, "metrics parse: every family has HELP and TYPE, labels "
   "escaped, last line ends with \\n")
for p in problems[:10]:
    diag(p)

health = get(port, "/health").json()
up = metric(samples, "voicegw_uptime_seconds")
ok(up is not None and 0 <= up <= health["uptime_seconds"] + 0.2,
   "uptime_seconds (%r), as in /health (%r)" % (up, health["uptime_seconds"]))
is_(types.get("voicegw_uptime_seconds"), "gauge", "uptime is a gauge")
is_(metric(samples, "voicegw_providers_configured"), 3.0,
    "providers: 2 of nginx.conf + 1 of the store only")
is_(metric(samples, "voicegw_projects_configured"), 2.0,
    "projects: 1 of nginx.conf + 1 of the store")

total, groups = expected_costs("today")
ok(close(metric(samples, "voicegw_cost_usd_total", period="today"), total,
         0, 1e-6), "cost today, in all")
is_(metric(samples, "voicegw_requests_total", period="today"),
    float(sum(1 for r in rows if in_window(r, "today"))), "requests today")
for g, label in (("by_provider", "provider"), ("by_model", "model"),
                 ("by_project", "project")):
    exp = groups[g]
    ok(all(close(metric(samples, "voicegw_cost_usd_total", **{label: k}),
                 v["cost"], 0, 1e-6)
           and metric(samples, "voicegw_requests_total", **{label: k})
           == v["requests"] for k, v in exp.items()),
       "cost and requests today by %s" % label)
    got = [k for (n, ls) in samples for (ln, k) in ls
           if n == "voicegw_requests_total" and ln == label]
    is_(sorted(got), sorted(exp), "no other %s series" % label)
ok(metric(samples, "voicegw_cost_usd_total", model=WEIRD) == 0.25,
   "a label value with \\, \" and a newline is escaped and reads back")
is_(types.get("voicegw_cost_usd_total"), "counter",
    "today's cost is a counter, as the seed says (reset at midnight)")
is_(types.get("voicegw_requests_total"), "counter",
    "so are today's requests")
is_(types.get("voicegw_request_ttfb_seconds"), "summary",
    "today's TTFB percentiles are a summary")

ttfb_today = [r["ttfb_ms"] for r in rows
              if in_window(r, "today") and r["model_id"] == "deepgram/nova-3"
              and r["ttfb_ms"] is not None]
q50 = metric(samples, "voicegw_request_ttfb_seconds",
             model="deepgram/nova-3", quantile="0.5")
ok(q50 is not None and within(q50 * 1000, percentile(ttfb_today, 50)),
   "ttfb p50 of a model in seconds (%r)" % q50)

is_(metric(samples, "voicegw_queue_length", pool="gpu"), 0.0,
    "queue length of the pool")
states = {s: metric(samples, "voicegw_workers", pool="gpu", state=s)
          for s in ("idle", "busy", "loading", "error", "offline")}
ok(None not in states.values() and sum(states.values()) == 2,
   "workers by state, every state: %r" % states)
is_(states.get("offline"), 2.0, "both dead workers are offline")
is_((metric(samples, "voicegw_cache_hits_total", pool="gpu"),
     metric(samples, "voicegw_cache_misses_total", pool="gpu")), (0.0, 0.0),
    "cache hits and misses")
is_((types.get("voicegw_cache_hits_total"),
     types.get("voicegw_queue_tickets_total")), ("counter", "counter"),
    "zone counters are counters")
ok("tk_" not in r.text, "no ticket ids in the metrics")

r = request("HEAD", port, "/v1/metrics")
is_((r.status, r.body), (200, b""), "HEAD /v1/metrics")


# -- without a store: empty shapes -------------------------------------------

d2 = workdir("040-reports-nostore")
port2 = free_port()
ngx2 = Nginx(d2, """
    voicegw_zone vg_reports2 1m;
    voicegw_provider_destinations public loopback;
    server { listen 127.0.0.1:%d; location / { voicegw_api; } }
""" % port2, workers=1).start(wait_ports=[port2])
r = get(port2, "/v1/costs?period=month&project=x")
is_((r.status, r.json()), (200, {"period": "month", "project": "x",
                                 "total": 0.0, "by_provider": {},
                                 "by_model": {}, "by_project": {}}),
    "no store: costs are zeros")
is_((get(port2, "/v1/latency").json(), get(port2, "/v1/logs").json()),
    ({}, []), "no store: latency {} and logs []")
r = get(port2, "/v1/metrics")
samples2, _, problems2 = parse_metrics(r.text)
ok(r.status == 200 and not problems2
   and metric(samples2, "voicegw_cost_usd_total", period="today") == 0.0
   and metric(samples2, "voicegw_providers_configured") == 0.0,
   "no store: metrics parse, with zeros")
is_(get(port2, "/v1/logs?limit=0").status, 400,
    "no store: arguments are still checked")
ok(ngx2.stop(), "the second nginx stops")
is_(ngx2.alerts(), [], "no [alert], [crit] or [emerg] without a store")


# -- the end -----------------------------------------------------------------

ok(ngx.stop(), "nginx stops")
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")
errors = [l for l in ngx.error_log().splitlines() if "[error]" in l]
is_(errors, [], "no [error] either")

rc = tap.done()
if rc == 0:
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(d2, ignore_errors=True)
sys.exit(rc)
