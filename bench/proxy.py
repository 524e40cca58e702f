#!/usr/bin/env python3
#
# bench/proxy.py -- the provider proxy's cost (issue 9, point 10), called by
# "bench/run.sh proxy" ("./build.sh bench proxy"), or directly.
#
# What it measures: one gateway nginx (our module, worker_processes 1,
# thread_pool voicegw threads=1 as shipped) with two routes to the same
# fake provider, over keep-alive upstream connections alike:
#
#   plain      location /plain/ { proxy_pass http://up/; } with
#              upstream up { keepalive 32; } and the proxy settings that
#              "voicegw_proxy" sets (HTTP/1.1, no buffering either way,
#              Connection "", Accept-Encoding identity, Host)
#   accounted  location /v1/proxy/ { voicegw_proxy; }, a priced model, a
#              project (X-VoiceGW-Project), voicegw_zone and voicegw_store:
#              the body read and scanned, the answer's usage parsed, and
#              one record per call through the batched recorder to SQLite
#
# for three answers:
#
#   json       a small chat.completion with "usage" (static, ~0.5 KB)
#   sse        a 200-event chat.completion.chunk stream, the usage-only
#              chunk, [DONE] (~50 KB); the request says "stream_options":
#              {"include_usage":true}, so it is passed as it is
#   sse_ask    the same stream, requested without stream_options: the
#              gateway adds include_usage to the body (accounted only; it
#              is compared with the round's plain sse)
#
#   norec      (a diagnostic, NOREC=0 leaves it out) the same accounted
#              location in a second gateway nginx without voicegw_store:
#              everything but the recorder and its SQLite thread; json and
#              sse only
#
# The fake provider is a second nginx (same binary, its own worker
# process) serving those answers as static files for POST (error_page 405
# =200), keep-alive, with Content-Length: a Python fake would saturate
# first and hide the difference.  Both upstreams keep nginx's defaults
# (keepalive_requests 1000, keepalive_timeout 60s): one new connection per
# 1000 calls on either path.
#
# Each round runs, per answer and alternating the order of the paths:
#   throughput  wrk -t1 -cTHROUGHPUT_C (32) for DURATION (10 s): req/s
#   latency     wrk -t1 -c1 --latency for DURATION: p50 / p90 / p99
#               without queueing
# ROUNDS (3) rounds; the report gives each figure's median over the rounds
# and the ratios: targets accounted >= 0.90 x plain throughput, <= 100 us
# added p99.  Also, per run: the gateway worker's CPU time per request
# (all its threads, and the event-loop thread alone: the difference is
# the store's SQLite thread) and the fake's, the fake's new connections
# (keep-alive check), and for accounted runs the growth of
# voicegw_served_requests_total{project,provider,status="success"}
# against wrk's count (within -c: calls in flight when wrk stops), and
# voicegw_records_total{outcome="dropped"}.  Every wrk run must have no
# non-2xx answer and no socket error.  On 2 cores, wrk, the fake and the
# gateway share the CPUs: req/s is bounded by all three; the gateway's
# CPU per request is the figure that a gateway on its own CPU would see.
#
# Environment: DURATION (10), ROUNDS (3), THROUGHPUT_C (32), NOREC (1),
# MODES (throughput,latency; "latency" alone for more latency rounds),
# PERF=1 (after the rounds, perf record with DWARF stacks of the gateway
# worker during a plain and an accounted throughput run of json and sse:
# CPU time per request by object, the module's parts, the top functions).
# Runtime files: var/bench-pool/proxy/.

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pool import (nginx, out, parse_wrk, stop, workdir, wrk,  # noqa: E402
                  wrk_post_script)
from records import main_cpu, metric  # noqa: E402
import vgtest as vg  # noqa: E402

NAME = "proxy"
DURATION = int(os.environ.get("DURATION", "10").rstrip("s"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
CONNS = int(os.environ.get("THROUGHPUT_C", "32"))
PERF = os.environ.get("PERF") == "1"
NOREC = os.environ.get("NOREC") != "0"
MODES = os.environ.get("MODES", "throughput,latency").split(",")
EVENTS = 200
PROMPT, COMPLETION = 13, EVENTS - 2          # tokens in the fake's usage
MODEL = "gpt-4o-mini"
PROJECT = "bench"

MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in one sentence."}]
BODIES = {
    "json": {"model": MODEL, "messages": MESSAGES},
    "sse": {"model": MODEL, "stream": True,
            "stream_options": {"include_usage": True}, "messages": MESSAGES},
    "sse_ask": {"model": MODEL, "stream": True, "messages": MESSAGES},
}
# provider id (accounted) and path prefix at the fake, per answer
ROUTES = {"json": ("bench", ""), "sse": ("benchsse", "/sse"),
          "sse_ask": ("benchsse", "/sse")}


# -- the fake provider's answers ---------------------------------------------

def jdump(o):
    return json.dumps(o, separators=(",", ":"))


def usage():
    return {"prompt_tokens": PROMPT, "completion_tokens": COMPLETION,
            "total_tokens": PROMPT + COMPLETION,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0}}


def answer_json():
    return jdump({
        "id": "chatcmpl-bench0000000000000000000001",
        "object": "chat.completion", "created": 1700000000, "model": MODEL,
        "choices": [{"index": 0, "message": {
            "role": "assistant", "content": "Hello! How can I help you today?",
            "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
        "usage": usage(), "system_fingerprint": "fp_bench"}) + "\n"


def answer_sse():
    def chunk(choices, u=None):
        c = {"id": "chatcmpl-bench0000000000000000000002",
             "object": "chat.completion.chunk", "created": 1700000000,
             "model": MODEL, "system_fingerprint": "fp_bench",
             "choices": choices}
        if u is not None:
            c["usage"] = u
        return "data: " + jdump(c) + "\n\n"

    def choice(delta, finish=None):
        return [{"index": 0, "delta": delta, "logprobs": None,
                 "finish_reason": finish}]

    ev = [chunk(choice({"role": "assistant", "content": "", "refusal": None}))]
    ev += [chunk(choice({"content": " word%d" % i}))
           for i in range(EVENTS - 2)]
    ev.append(chunk(choice({}, "stop")))
    ev.append(chunk([], usage()))
    ev.append("data: [DONE]\n\n")
    return "".join(ev)


def fake_conf(port, www):
    # POST to a static file is 405; error_page turns it into the file (the
    # body is discarded first, so the connection stays alive)
    return """
    access_log off;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:%(port)d;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
        root %(www)s;
        location = /v1/chat/completions {
            types { } default_type application/json;
            error_page 405 =200 $uri;
        }
        location = /sse/v1/chat/completions {
            types { } default_type text/event-stream;
            error_page 405 =200 $uri;
        }
        location = /stub { stub_status; }
    }
""" % {"port": port, "www": www}


def gateway_conf(port, up, secret, store):
    proxy = """
            proxy_http_version 1.1;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_redirect off;
            proxy_next_upstream off;
            proxy_set_header Host 127.0.0.1:%d;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding identity;""" % up
    prices = ("modality=llm price_per_1k_input_tokens=0.15 "
              "price_per_1k_output_tokens=0.6")
    return """
    voicegw_zone  vg_bench 32m;
    voicegw_provider_destinations public loopback;
    %(store)s
    voicegw_secret %(secret)s;
    voicegw_provider bench type=openai key=sk-bench
                     base_url=http://127.0.0.1:%(up)d;
    voicegw_provider benchsse type=openai key=sk-bench
                     base_url=http://127.0.0.1:%(up)d/sse;
    voicegw_model bench/%(model)s %(prices)s;
    voicegw_model benchsse/%(model)s %(prices)s;
    voicegw_project %(project)s name=Bench;

    upstream up {
        server 127.0.0.1:%(up)d;
        keepalive 32;
    }

    server {
        listen 127.0.0.1:%(port)d;
        access_log off;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
        error_page 404 500 502 504 /_voicegw_error;
        location = /_voicegw_error { internal; voicegw_error; }
        location /plain/ {
            proxy_pass http://up/;%(proxy)s
        }
        location /v1/proxy/ { voicegw_proxy; }
        location / { voicegw_api; }
    }
""" % {"port": port, "up": up, "secret": secret, "model": MODEL,
       "prices": prices, "project": PROJECT, "proxy": proxy,
       "store": "voicegw_store data/vg.db;" if store else ""}


# -- measuring ---------------------------------------------------------------

def proc_cpu(pid):
    """CPU seconds of a whole process (every thread)"""
    tck = os.sysconf("SC_CLK_TCK")
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tck


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Gateway:
    """one gateway nginx: plain and accounted locations"""

    def __init__(self, d, name, up, secret, store):
        self.port = vg.free_port()
        self.store = store
        self.ng = nginx(os.path.join(d, name),
                        gateway_conf(self.port, up, secret, store), workers=1)
        self.ng.main_config += "\nthread_pool voicegw threads=1;"
        self.ng.write_conf()
        self.ng.start(wait_ports=[self.port])
        if store:
            vg.wait_for(lambda: "ready, schema version"
                        in self.ng.error_log(), timeout=10)
        self.pid = self.ng.worker_pids()[0]

    def metrics(self):
        return vg.get(self.port, "/v1/metrics").text

    def errors(self):
        return [l for l in self.ng.error_log().splitlines()
                if "[error]" in l or "[alert]" in l or "[crit]" in l]


class Setup:
    def __init__(self):
        self.d = workdir(NAME)
        www = os.path.join(self.d, "www")
        os.makedirs(os.path.join(www, "v1", "chat"))
        os.makedirs(os.path.join(www, "sse", "v1", "chat"))
        self.answers = {"json": answer_json(), "sse": answer_sse()}
        for path, key in (("v1/chat/completions", "json"),
                          ("sse/v1/chat/completions", "sse")):
            with open(os.path.join(www, path), "w") as f:
                f.write(self.answers[key])

        self.up = vg.free_port()
        self.fake = nginx(os.path.join(self.d, "fake"),
                          fake_conf(self.up, www), workers=1)
        self.fake.start(wait_ports=[self.up])
        self.fake_pid = self.fake.worker_pids()[0]

        secret = vg.secret_key(self.d)
        self.gw = Gateway(self.d, "gateway", self.up, secret, True)
        # the diagnostic: the same accounting without voicegw_store (no
        # recorder), in a second, otherwise idle nginx
        self.norec = (Gateway(self.d, "gateway-norec", self.up, secret,
                              False) if NOREC else None)

        self.scripts = {}
        for kind, body in BODIES.items():
            self.scripts[kind] = wrk_post_script(
                self.d, kind, jdump(body), {"X-VoiceGW-Project": PROJECT})

    def gateway(self, path):
        return self.norec if path == "norec" else self.gw

    def path(self, kind, path):
        provider, prefix = ROUTES[kind]
        if path == "plain":
            return "/plain%s/v1/chat/completions" % prefix
        return "/v1/proxy/%s/v1/chat/completions" % provider

    def url(self, kind, path):
        return "http://127.0.0.1:%d%s" % (self.gateway(path).port,
                                          self.path(kind, path))

    def call(self, kind, path):
        return vg.request("POST", self.gateway(path).port,
                          self.path(kind, path), jdump(BODIES[kind]),
                          {"Content-Type": "application/json",
                           "X-VoiceGW-Project": PROJECT})

    def served(self, text, kind):
        return metric(text, "voicegw_served_requests_total",
                      project=PROJECT, provider=ROUTES[kind][0],
                      status="success") or 0

    def fake_accepts(self):
        t = vg.get(self.up, "/stub").text
        m = re.search(r"\n\s*(\d+)\s+(\d+)\s+(\d+)", t)
        return int(m.group(1)) if m else 0

    def close(self):
        for g in (self.gw, self.norec):
            if g:
                stop(g.ng)
        stop(self.fake)


def check_answers(s):
    """Before any load: every path answers the fake's bytes, and the
    accounted calls are booked with the fake's tokens."""
    problems = []
    paths = ("plain", "accounted", "norec") if NOREC else ("plain",
                                                           "accounted")
    for kind in ("json", "sse", "sse_ask"):
        want = s.answers["json" if kind == "json" else "sse"]
        for path in paths:
            a = s.call(kind, path)
            if a.status != 200:
                problems.append("%s %s: status %d" % (kind, path, a.status))
            elif (kind != "sse_ask" or path == "plain") and a.text != want:
                problems.append("%s %s: the answer is not the fake's"
                                % (kind, path))
            if kind == "sse_ask" and path == "accounted":
                out(NAME, "sse_ask: the client got %d events (%d bytes) of "
                    "the fake's %d; the usage-only chunk %s",
                    a.text.count("data: "), len(a.body),
                    want.count("data: "), "was taken out" if
                    '"choices":[]' not in a.text else "reached the client "
                    "(docs/providers.md says it is taken out)")
    time.sleep(1.0)                     # flush=200ms by default
    logs = vg.get(s.gw.port, "/v1/logs?limit=10").json() or []
    if isinstance(logs, dict):
        logs = logs.get("data") or logs.get("logs") or []
    for rec in logs[:3]:
        if (rec.get("input_units"), rec.get("output_units"),
                rec.get("status")) != (PROMPT, COMPLETION, "success"):
            problems.append("a record is not what the fake said: %r" % rec)
    if len(logs) < 3:
        problems.append("%d records on the books, 3 expected" % len(logs))
    for p in problems:
        out(NAME, "WARNING %s", p)
    return not problems


def run(s, kind, path, latency):
    """one wrk run; its figures and checks"""
    g = s.gateway(path)
    before = g.metrics() if path != "plain" else None
    acc0 = s.fake_accepts()
    cpu0, main0, fake0 = (proc_cpu(g.pid), main_cpu([g.pid]),
                          proc_cpu(s.fake_pid))
    t0 = time.monotonic()
    r = wrk(s.url(kind, path), conns=1 if latency else CONNS,
            script=s.scripts[kind], duration=DURATION)
    wall = time.monotonic() - t0
    cpu1, main1, fake1 = (proc_cpu(g.pid), main_cpu([g.pid]),
                          proc_cpu(s.fake_pid))
    n = max(r.get("requests", 0), 1)
    res = {"rps": r["rps"], "p50": r["lat"].get(50, 0) * 1000,
           "p90": r["lat"].get(90, 0) * 1000,
           "p99": r["lat"].get(99, 0) * 1000, "n": n,
           "non2xx": r["non2xx"], "errors": r["errors"],
           "cpu_us": (cpu1 - cpu0) / n * 1e6,
           "main_us": (main1 - main0) / n * 1e6,
           "fake_us": (fake1 - fake0) / n * 1e6,
           "gw_busy": (cpu1 - cpu0) / wall, "fake_busy": (fake1 - fake0) / wall,
           "new_conns": s.fake_accepts() - acc0 - 1}
    res["ok"] = bool(r.get("requests")) and not r["non2xx"] and not r["errors"]
    if path != "plain":
        # wrk stops with up to CONNS calls in flight: they end as
        # client_closed, not success, or are booked but not counted by
        # wrk; let the recorder flush
        time.sleep(0.5)
        after = g.metrics()
        res["booked"] = s.served(after, kind) - s.served(before, kind)
        res["dropped"] = (metric(after, "voicegw_records_total",
                                 outcome="dropped") or 0)
        res["ok"] = res["ok"] and res["dropped"] == 0 and (
            not g.store or abs(res["booked"] - n) <= CONNS + 1)
    if not res["ok"]:
        out(NAME, "WARNING %s %s: %d non-2xx, %d socket errors, %s requests, "
            "booked %s, dropped %s", kind, path, r["non2xx"], r["errors"],
            r.get("requests"), res.get("booked"), res.get("dropped"))
    return res


def line(kind, what, path, r):
    extra = ""
    if path == "accounted":
        extra = ", booked %d of %d (%+d), dropped %d" % (
            r["booked"], r["n"], r["booked"] - r["n"], r["dropped"])
    out(NAME, "  %-7s %-10s %-9s %9.0f req/s  p50 %7.1f  p90 %7.1f  "
        "p99 %7.1f us  "
        "gw CPU %5.1f us/req (event loop %5.1f), fake %4.1f us/req, "
        "busy gw %3.0f%% fake %3.0f%%, new upstream conns %d%s",
        kind, what, path, r["rps"],
        r["p50"], r["p90"], r["p99"], r["cpu_us"], r["main_us"], r["fake_us"],
        r["gw_busy"] * 100, r["fake_busy"] * 100, r["new_conns"], extra)


# the module's entry points whose inclusive time perf_profile reports
PERF_ENTRIES = (
    ("ngx_voicegw_proxy_request_body_filter", "request body scan"),
    ("ngx_voicegw_proxy_header_filter", "answer header filter"),
    ("ngx_voicegw_proxy_body_filter", "answer usage parser"),
    ("ngx_voicegw_proxy_log_handler", "pricing and record (log phase)"),
    ("ngx_voicegw_record_sql_batch", "SQLite batches (store thread)"),
    ("ngx_voicegw_record_prepare", "  of which statements prepared"),
)


def perf_report(data, *args):
    return subprocess.run(["perf", "report", "-i", data, "--stdio",
                           "-g", "none"] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True).stdout


def perf_profile(s, kind, path):
    """perf record (DWARF stacks) of the gateway worker during a throughput
    run: its CPU time per request by object (nginx, our module, libc,
    SQLite, kernel), the module's entry points (inclusive) and the top
    functions"""
    what = "%s %s" % (path, kind)
    data = os.path.join(s.d, "perf-%s.data" % kind)
    pid = s.gateway(path).pid
    cpu0 = proc_cpu(pid)
    p = wrk(s.url(kind, path), conns=CONNS, script=s.scripts[kind],
            duration=7, background=True)
    time.sleep(1)
    subprocess.run(["perf", "record", "-q", "-F", "1000", "--call-graph",
                    "dwarf,16384", "-o", data, "-p", str(pid), "--",
                    "sleep", "4"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = parse_wrk(p.communicate()[0])
    per = (proc_cpu(pid) - cpu0) / max(r.get("requests", 1), 1) * 1e6
    dsos = re.findall(r"^\s*([\d.]+)%\s+(\S+)\s*$",
                      perf_report(data, "--no-children", "--sort", "dso"),
                      re.M)
    out(NAME, "perf, %s: %.0f req/s under perf, gateway CPU %.1f us per "
        "request; self time by object, us per request: %s", what, r["rps"],
        per, ", ".join("%s %.1f" % (d, float(p) * per / 100)
                       for p, d in dsos if float(p) >= 0.5))
    if path != "plain":
        rep = perf_report(data, "--children", "--sort", "symbol",
                          "--percent-limit", "0.05")
        parts = []
        for sym, label in PERF_ENTRIES:
            m = re.search(r"^\s*([\d.]+)%\s+[\d.]+%\s+\[.\]\s+" + sym +
                          r"\b", rep, re.M)
            parts.append("%s %.1f" % (label, float(m.group(1)) * per / 100
                                       if m else 0.0))
        out(NAME, "perf, %s: the module's parts (inclusive), us per "
            "request: %s", what, ", ".join(parts))
    rows = re.findall(r"^\s*([\d.]+)%\s+\[.\]\s+(\S+)",
                      perf_report(data, "--no-children", "--sort", "symbol",
                                  "--percent-limit", "1"), re.M)
    out(NAME, "perf, %s: top functions (self), us per request: %s", what,
        ", ".join("%s %.1f" % (sym, float(p) * per / 100)
                  for p, sym in rows[:14]))
    os.unlink(data)


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def main():
    out(NAME, "started %s, load average %s, %d cores; %d rounds of wrk "
        "-t1 -c%d (throughput) and -t1 -c1 --latency (latency), %d s each, "
        "alternating the paths", time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        loadavg(), os.cpu_count(), ROUNDS, CONNS, DURATION)
    s = Setup()
    try:
        out(NAME, "gateway :%d (worker %d)%s, fake provider nginx :%d "
            "(worker %d); answers: json %d bytes, sse %d bytes (%d events)",
            s.gw.port, s.gw.pid, ", diagnostic gateway without recorder "
            ":%d (worker %d)" % (s.norec.port, s.norec.pid) if NOREC else "",
            s.up, s.fake_pid, len(s.answers["json"]),
            len(s.answers["sse"]), s.answers["sse"].count("data: "))
        ok = check_answers(s)
        res = {}
        for rnd in range(ROUNDS):
            out(NAME, "round %d, load average %s", rnd + 1, loadavg())
            for kind in ("json", "sse", "sse_ask"):
                for what in MODES:
                    latency = what == "latency"
                    order = ["plain", "accounted"] + (
                        ["norec"] if NOREC else [])
                    if kind == "sse_ask":
                        order = ["accounted"]   # compared with this round's sse
                    if rnd % 2:
                        order.reverse()
                    for path in order:
                        r = run(s, kind, path, latency)
                        res.setdefault((kind, what, path), []).append(r)
                        line(kind, what, path, r)
                        ok = ok and r["ok"]

        if PERF and shutil.which("perf"):
            for kind in ("json", "sse"):
                for path in ("plain", "accounted"):
                    perf_profile(s, kind, path)

        out(NAME, "load average at the end %s", loadavg())
        out(NAME, "medians over %d rounds (latency in us; CPU: the "
            "gateway worker's, all threads, per request, in the throughput "
            "runs; its ratio is what a gateway with a CPU of its own would "
            "keep):", ROUNDS)
        met = True
        rows = [("json", "accounted"), ("sse", "accounted"),
                ("sse_ask", "accounted")]
        if NOREC:
            rows += [("json", "norec"), ("sse", "norec")]
        for kind, path in rows:
            pk = "sse" if kind == "sse_ask" else kind
            none = [dict.fromkeys(("rps", "cpu_us", "main_us", "p50", "p90",
                                   "p99"), float("nan"))]
            tput_p = res.get((pk, "throughput", "plain"), none)
            tput_a = res.get((kind, "throughput", path), none)
            lp = res.get((pk, "latency", "plain"), none)
            la = res.get((kind, "latency", path), none)
            tp, ta = median(tput_p, "rps"), median(tput_a, "rps")
            p50p, p90p, p99p = (median(lp, k) for k in ("p50", "p90", "p99"))
            p50a, p90a, p99a = (median(la, k) for k in ("p50", "p90", "p99"))
            cp, ca = median(tput_p, "cpu_us"), median(tput_a, "cpu_us")
            mp, ma = median(tput_p, "main_us"), median(tput_a, "main_us")
            good = ta / tp >= 0.90 and p99a - p99p <= 100
            if kind != "sse_ask" and path == "accounted":
                met = met and good
            out(NAME, "%-7s %-9s req/s plain %.0f, %s %.0f, ratio %.3f "
                "(runs: %s); p50 %.0f / %.0f (%+.0f), p90 %.0f / %.0f "
                "(%+.0f), p99 %.0f / %.0f (%+.0f) plain / %s (added); CPU "
                "%.1f / %.1f us per request (%+.1f, ratio %.3f; event loop "
                "%.1f / %.1f): %s", kind, path, tp, path, ta, ta / tp,
                ", ".join("%.3f" % (a["rps"] / b["rps"])
                          for a, b in zip(tput_a, tput_p)),
                p50p, p50a, p50a - p50p, p90p, p90a, p90a - p90p,
                p99p, p99a, p99a - p99p, path, cp, ca, ca - cp, cp / ca,
                mp, ma, ("targets met" if good else "target MISSED")
                if path == "accounted" else "(diagnostic)")
        out(NAME, "targets (accounted >= 0.90 x plain req/s, <= 100 us added "
            "p99; json and sse): %s; checks (every answer 2xx, every "
            "accounted call booked, no record dropped): %s",
            "MET" if met else "MISSED", "passed" if ok else "FAILED")
        errs = s.gw.errors() + (s.norec.errors() if NOREC else [])
        out(NAME, "gateway error.log: %s", "%d lines, first: %s" % (
            len(errs), errs[0]) if errs else "no [error]/[crit]/[alert]")
    finally:
        s.close()


if __name__ == "__main__":
    main()
