#!/usr/bin/env python3
#
# t/045-project-budget.t -- today's spend of projects (issue 4 item 9,
# SPEC 5): requests are inserted through the store (as the recorder will
# write them) and GET /v1/projects/{id} and GET /v1/projects show
#   - today_spend and costs_today grouped by provider and by model, highest
#     first, counting only today's rows (UTC day: a row at 00:00:00.000 UTC
#     counts, one a millisecond before does not) of that project;
#   - budget_status: ok below 80 % of daily_budget, warning from 80 %,
#     exceeded from 100 %, ok without a budget;
#   - stats of every project in the list, for config and db projects alike.

import calendar
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import Nginx, free_port, get, is_, ok, request, tap  # noqa: E402
from vgtest import workdir  # noqa: E402

d = workdir("045-project-budget")
port = free_port()

ngx = Nginx(os.path.join(d, "nginx"), """
    voicegw_zone vg 4m;
    voicegw_store data/vg.db;

    voicegw_project support daily_budget=10 budget_action=warn;
    voicegw_project free;

    server {
        listen %d;
        location / { voicegw_api; }
    }
""" % port, workers=2)
ngx.start(wait_ports=[port])

r = request("POST", port, "/v1/projects",
            body={"project_id": "kiosk", "daily_budget": 2.5})
is_(r.status, 200, "db project kiosk created")

db = sqlite3.connect(os.path.join(d, "nginx", "data", "vg.db"), timeout=10)

now = time.time()
midnight_ms = calendar.timegm(time.gmtime(now)[:3] + (0, 0, 0)) * 1000


def add(project, provider, model, cost, ts=None):
    with db:
        db.execute(
            "INSERT INTO requests (ts, project, modality, model_id, provider,"
            " cost_usd, ttfb_ms, total_latency_ms, status, http_status)"
            " VALUES (?, ?, 'llm', ?, ?, ?, 10, 20, 'success', 200)",
            (midnight_ms if ts is None else ts, project, model, provider,
             cost))


def project(pid):
    r = get(port, "/v1/projects/" + pid)
    return r.status, r.json()


def close(a, b):
    return abs(a - b) < 1e-9


# -- nothing yet -------------------------------------------------------------

st, j = project("support")
is_((st, j.get("today_spend"), j.get("budget_status")), (200, 0.0, "ok"),
    "no requests: spend 0, ok")
is_(j.get("costs_today"), {"by_provider": {}, "by_model": {}, "total": 0.0},
    "no requests: empty groups")

# -- only today's rows of the project count --------------------------------

add("support", "openai", "openai/gpt-4o-mini", 5.0, ts=midnight_ms - 1)
add("support", "openai", "openai/gpt-4o-mini", 50.0,
    ts=midnight_ms - 86400 * 1000 * 3)
add("kiosk", "openai", "openai/gpt-4o-mini", 4.0)
st, j = project("support")
is_((j.get("today_spend"), j.get("budget_status")), (0.0, "ok"),
    "yesterday's rows (even 1 ms before 00:00 UTC) and other projects' "
    "do not count")

add("support", "openai", "openai/gpt-4o-mini", 3.0)        # 00:00:00.000
add("support", "deepgram", "deepgram/nova-3", 1.5, ts=int(now * 1000))
add("support", "openai", "openai/gpt-4o", 2.0, ts=int(now * 1000))
st, j = project("support")
ok(close(j.get("today_spend", -1), 6.5), "spend is today's sum: 6.5 (%r)"
   % j.get("today_spend"))
is_(j.get("budget_status"), "ok", "6.5 of 10: ok")
ct = j.get("costs_today", {})
is_(list(ct.get("by_provider", {})), ["openai", "deepgram"],
    "by provider, highest first")
ok(close(ct["by_provider"]["openai"]["cost"], 5.0)
   and ct["by_provider"]["openai"]["requests"] == 2,
   "openai: 5.0 over 2 requests")
is_(list(ct.get("by_model", {})),
    ["openai/gpt-4o-mini", "openai/gpt-4o", "deepgram/nova-3"],
    "by model, highest first")
ok(close(ct.get("total", -1), 6.5), "total 6.5")
is_(j.get("today", {}).get("requests_today"), 3, "3 requests today")

# -- the thresholds ----------------------------------------------------------

# (amounts exact in binary, so that the sums are exactly the thresholds)
add("support", "openai", "openai/gpt-4o-mini", 1.25)        # 7.75
st, j = project("support")
is_(j.get("budget_status"), "ok", "below 80 % (7.75 of 10): ok")

add("support", "openai", "openai/gpt-4o-mini", 0.25)        # 8.0
st, j = project("support")
is_(j.get("budget_status"), "warning", "at 80 %: warning")

add("support", "openai", "openai/gpt-4o-mini", 1.5)         # 9.5
st, j = project("support")
is_(j.get("budget_status"), "warning", "below 100 % (9.5): warning")

add("support", "openai", "openai/gpt-4o-mini", 0.5)         # 10.0
st, j = project("support")
is_(j.get("budget_status"), "exceeded", "at 100 %: exceeded")

add("free", "openai", "openai/gpt-4o-mini", 1000.0)
st, j = project("free")
is_((j.get("daily_budget"), j.get("budget_status")), (0.0, "ok"),
    "no budget: ok whatever the spend")

st, j = project("kiosk")
ok(close(j.get("today_spend", -1), 4.0), "db project: its own spend")
is_(j.get("budget_status"), "exceeded", "4.0 of 2.5: exceeded")

# -- the list's stats --------------------------------------------------------

r = get(port, "/v1/projects")
stats = r.json().get("stats", {})
is_(sorted(stats), ["free", "kiosk", "support"], "stats of every project")
ok(close(stats["support"]["cost_today"], 10.0)
   and stats["support"]["requests_today"] == 7,
   "support: 10.0 over 7 requests today")
ok(close(stats["kiosk"]["cost_today"], 4.0)
   and stats["kiosk"]["requests_today"] == 1, "kiosk: 4.0 over 1")

# both processes answer the same
seen = {project("support")[1].get("budget_status") for _ in range(20)}
is_(seen, {"exceeded"}, "every process sees the same status")

db.close()
ok(ngx.stop(), "nginx stopped")
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")

sys.exit(tap.done())
