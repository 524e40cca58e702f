#!/usr/bin/env python3
#
# bench/records.py -- the request recorder under load (SPEC 9, "Request
# logging"), called by "bench/run.sh records".
#
# Two nginx worker processes serve a route whose every request is one
# record (a worker-pool task of a disabled app: refused at once, put on
# the books), with wrk -t2 -c40, paced (RECORDS_C connections, each
# waiting 1 ms before each request: about 20-22k requests/s here), for
# RECORDS_S seconds (default 60):
#
#   - records/s accepted, dropped and committed (/v1/metrics and the
#     store), i.e. >= 20,000/s sustained with no drop;
#   - the worst event-loop stall of any nginx worker process: the
#     lateness of each process's flush timer (flush=10ms, so a hundred
#     samples a second per process), voicegw_event_loop_lag_max_seconds;
#   - the CPU of the request's process per record: the event-loop
#     threads' CPU time per request, against the same nginx and route
#     without voicegw_store (no recorder), in the same run;
#   - the nginx worker processes' memory before and after (RssAnon).

import os
import re
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pool import out, proc_mem, stop, workdir, wrk, nginx  # noqa: E402
import vgtest as vg  # noqa: E402

SECONDS = int(os.environ.get("RECORDS_S", "60"))
# paced: each connection waits 1 ms before each request (wrk's delay()),
# so the rate is about CONNS x 1000 / (1 + latency in ms) requests/s
CONNS = int(os.environ.get("RECORDS_C", "40"))
NAME = "records"


def conf(port, store):
    return """
    voicegw_zone vg_rec 64m;
    %s
    voicegw_app offapp enabled=off;

    upstream gpu {
        voicegw_pool queue=10 health_interval=600s;
        server 127.0.0.1:9;
    }

    server {
        listen 127.0.0.1:%d reuseport;
        access_log off;
        location = /off {
            voicegw_task chat pool=gpu app=offapp;
            proxy_pass http://gpu/chat;
        }
        location / { voicegw_api; }
    }
""" % (store, port)


def main_cpu(pids):
    """CPU seconds of the event-loop (main) threads of these processes."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with open("/proc/%d/task/%d/stat" % (pid, pid)) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tck
    return total


def metric(text, name, **labels):
    total = None
    for line in text.splitlines():
        if not (line.startswith(name + "{") or line.startswith(name + " ")):
            continue
        if all('%s="%s"' % kv in line for kv in labels.items()):
            total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


class Probe(threading.Thread):
    """The machine's own scheduling delay under the same load: how late a
    10 ms sleep of this (Python) process wakes up."""

    def __init__(self):
        super().__init__(daemon=True)
        self.late = []
        self.running = True

    def run(self):
        while self.running:
            t = time.monotonic()
            time.sleep(0.01)
            self.late.append((time.monotonic() - t - 0.01) * 1000)


def run(store, seconds):
    d = workdir(NAME + ("-store" if store else "-plain"))
    port = vg.free_port()
    ng = nginx(d, conf(port, store), workers=2)
    ng.start(wait_ports=[port])
    time.sleep(0.5)
    pids = ng.worker_pids()
    mem0 = {p: proc_mem(p) for p in pids}
    cpu0 = main_cpu(pids)
    probe = Probe()
    probe.start()
    mid = {}
    timer = threading.Timer(seconds / 3.0, lambda: mid.update(
        {p: proc_mem(p) for p in pids}))
    timer.start()
    script = os.path.join(d, "paced.lua")
    with open(script, "w") as f:
        f.write("function delay()\n    return 1\nend\n")
    r = wrk("http://127.0.0.1:%d/off" % port, conns=CONNS, threads=2,
            duration=seconds, script=script)
    cpu1 = main_cpu(pids)
    mem1 = {p: proc_mem(p) for p in pids}
    probe.running = False
    probe.join()
    late = sorted(probe.late)
    res = {"wrk": r, "cpu": cpu1 - cpu0, "mem0": mem0, "mem1": mem1,
           "mid": mid, "pids": pids,
           "probe": (late[len(late) * 99 // 100], late[-1]) if late
           else (0, 0)}
    if store:
        # let the flusher finish, then read the books
        vg.wait_for(lambda: metric(vg.get(port, "/v1/metrics").text,
                                   "voicegw_record_buffer_bytes",
                                   kind="used") == 0, timeout=30)
        text = vg.get(port, "/v1/metrics").text
        res["metrics"] = text
        db = sqlite3.connect(os.path.join(d, "data", "vg.db"))
        res["rows"] = db.execute("SELECT count(*) FROM requests").fetchone()[0]
        db.close()
    res["errors"] = [l for l in ng.error_log().splitlines()
                     if "[error]" in l or "[alert]" in l or "[crit]" in l]
    stop(ng)
    return res


def main():
    out(NAME, "started %s, %d s per phase, 2 nginx workers, wrk -t2 -c%d "
        "paced (1 ms between a connection's requests)",
        time.strftime("%H:%M:%S"), SECONDS, CONNS)

    plain = run("", min(SECONDS, 20))
    rec = run("voicegw_store data/vg.db buffer=8m flush=10ms;", SECONDS)

    for name, r in (("without recorder", plain), ("with recorder", rec)):
        out(NAME, "%-17s the machine's scheduling delay meanwhile (a 10 ms "
            "sleep of a Python probe): p99 %.3f ms, max %.3f ms", name,
            r["probe"][0], r["probe"][1])

    for name, r in (("without recorder", plain), ("with recorder", rec)):
        w = r["wrk"]
        out(NAME, "%-17s %9.0f req/s  p50 %.3f ms  p99 %.3f ms  %d requests, "
            "event-loop CPU %.2f s = %.2f us/request", name, w["rps"],
            w["lat"].get(50, 0), w["lat"].get(99, 0),
            w.get("requests", 0), r["cpu"],
            r["cpu"] / max(w.get("requests", 1), 1) * 1e6)

    per_plain = plain["cpu"] / max(plain["wrk"].get("requests", 1), 1)
    per_rec = rec["cpu"] / max(rec["wrk"].get("requests", 1), 1)
    out(NAME, "event-loop CPU per request, with minus without: %.2f us "
        "(two separate runs: on this VM the difference is noise of several "
        "us either way)", (per_rec - per_plain) * 1e6)

    text = rec["metrics"]
    spent = metric(text, "voicegw_record_time_seconds_total") or 0
    calls = metric(text, "voicegw_record_calls_total") or 1
    out(NAME, "recording cost in the request's process, timed in the record "
        "API itself: %.3f us/record over %d records (target <= 2 us)",
        spent / calls * 1e6, calls)
    acc = metric(text, "voicegw_records_total", outcome="accepted") or 0
    drop = metric(text, "voicegw_records_total", outcome="dropped") or 0
    com = metric(text, "voicegw_records_total", outcome="committed") or 0
    out(NAME, "records: %d accepted (%.0f/s), %d dropped, %d committed, %d "
        "rows in the store", acc, acc / SECONDS, drop, com, rec["rows"])
    out(NAME, "target >= 20,000 records/s for %d s with no drop: %s", SECONDS,
        "MET" if acc / SECONDS >= 20000 and drop == 0 else "MISSED")

    lags = {}
    for line in text.splitlines():
        m = re.match(r'voicegw_event_loop_lag_max_seconds\{slot="(\d+)"\} '
                     r'([\d.]+)', line)
        if m:
            lags[int(m.group(1))] = float(m.group(2)) * 1000
    out(NAME, "worst flush-timer lateness per process slot (ms, includes "
        "up to 1 ms of timer resolution): %s",
        ", ".join("%d: %.3f" % kv for kv in sorted(lags.items())))

    for gauge, counter, what in (
            ("voicegw_record_hold_max_seconds",
             "voicegw_record_holds_over_1ms_total",
             "the flusher's own work in the event loop (CPU time)"),
            ("voicegw_record_call_max_seconds",
             "voicegw_record_calls_over_1ms_total",
             "calls of the record API (wall time: lock waits and "
             "preemption included)")):
        top, over = {}, {}
        for line in text.splitlines():
            m = re.match(gauge + r'\{slot="(\d+)"\} ([\d.]+)', line)
            if m:
                top[int(m.group(1))] = float(m.group(2)) * 1000
            m = re.match(counter + r'\{slot="(\d+)"\} (\d+)', line)
            if m:
                over[int(m.group(1))] = int(m.group(2))
        out(NAME, "%s: longest per process slot (ms), and times over 1 ms: "
            "%s", what, ", ".join("slot %d: %.3f, %d" % (k, top[k],
                                                         over.get(k, 0))
                                  for k in sorted(top)))

    for p in rec["pids"]:
        out(NAME, "worker %d RssAnon %s KiB at start, %s after a third of "
            "the run, %s at the end", p, rec["mem0"][p].get("RssAnon"),
            rec["mid"].get(p, {}).get("RssAnon"),
            rec["mem1"][p].get("RssAnon"))

    if rec["errors"]:
        out(NAME, "error.log: %d lines, first: %s", len(rec["errors"]),
            rec["errors"][0])
    else:
        out(NAME, "error.log: no [error]/[crit]/[alert] lines")


if __name__ == "__main__":
    main()
