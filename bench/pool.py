#!/usr/bin/env python3
"""
bench/pool.py -- benchmarks of the worker pool (SPEC section 9), called by
bench/run.sh ("bench/run.sh grant", ...) or directly:

    python3 bench/pool.py grant|queue|eta|shm|steady [--perf]

  grant   worker freed -> next parked request connected to it, measured by
          the worker's own task start/end times, with the fake worker and
          with bench/stopwatch_worker.py (exact time stamps);
          worker_processes 2, 40 client connections, 20 per process, queue
          order A A B B ... so that half the grants cross processes.
          Floor: plain nginx proxy_pass to the same worker, one client
          back-to-back.                                 target p99 <= 10 ms
  queue   GET /status and GET /api/queue with 1000 parked tickets, wrk
          -t1 -c50, one nginx worker, beside "return 200" / a static file
          of the same size in the same nginx.              target >= 20k/s
  eta     GET /api/queue/{last of 1000} (ETA of all 1000) vs
          /api/queue/{first} and /health, wrk -t1 -c1.     target <= 1 ms
  shm     park requests until 503 zone_full: zone bytes per ticket held
          (1m and 2m zones; chat bodies with affinity=messages), then
          10,000 parked in a zone of 10,000 x 2 KiB.    target <= 2 KiB
  steady  100,000 tasks (fakes answering at once), RSS of the nginx
          workers at start/middle/end, eviction of finished tickets; then
          20,000 tasks on stopwatch workers: never two tasks at once.

Every nginx, fake worker and load generator is started here and stopped by
its pid.  Runtime files: var/bench-pool/<name>/.  Results go to stdout, one
"name: ..." line each.

Environment: DURATION (wrk seconds for queue, default 10), GRANT_S and
GRANT_BASE_S (seconds of the grant phases, default 25 and 15), QUEUED
(1000), TASKS (steady, default 100000), STEADY_ZONE (8m), PERF=1 (as --perf: perf record of the nginx worker
during /api/queue; by default it runs when the target is missed; PERF=0
never).
"""

import hashlib
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "t", "support"))
import vgtest as vg  # noqa: E402

BASE = os.path.join(ROOT, "var", "bench-pool")
DURATION = int(os.environ.get("DURATION", "10").rstrip("s"))
PERF = os.environ.get("PERF") == "1" or "--perf" in sys.argv
PERF_AUTO = os.environ.get("PERF") != "0"      # perf when a target is missed


def out(name, fmt, *args):
    print("%s: %s" % (name, fmt % args if args else fmt), flush=True)


def workdir(name):
    d = os.path.join(BASE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def pct(values, p):
    """nearest-rank percentile"""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


def dist(values):
    return "min %.2f  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms (n=%d, " \
        "%d negative)" % (min(values), pct(values, 50), pct(values, 90),
                         pct(values, 99), max(values), len(values),
                         sum(1 for v in values if v < 0))


# -- wrk ---------------------------------------------------------------------

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk(url, conns=50, threads=1, duration=None, script=None,
        timeout="10s", background=False):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns,
           "-d%ds" % (duration or DURATION), "--latency", "--timeout", timeout]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    if background:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    return parse_wrk(subprocess.run(cmd, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT,
                                    text=True).stdout)


def parse_wrk(text):
    r = {"raw": text, "rps": 0.0, "non2xx": 0, "errors": 0, "lat": {}}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", text)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", text)
    if m:
        mult = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
        r["bytes_s"] = float(m.group(1)) * mult.get(m.group(2), 1)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", text)
    if m:
        r["errors"] = sum(int(x) for x in m.groups())
    for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", text,
                              re.M):
        r["lat"][int(p)] = float(v) * UNITS[u]
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s)", text)
    if m:
        r["lat_avg"] = float(m.group(1)) * UNITS[m.group(2)]
    return r


def wrk_post_script(d, name, body, headers=None):
    path = os.path.join(d, name + ".lua")
    lines = ['wrk.method = "POST"',
             'wrk.body = %s' % json.dumps(body),
             'wrk.headers["Content-Type"] = "application/json"']
    for k, v in (headers or {}).items():
        lines.append('wrk.headers[%s] = %s' % (json.dumps(k), json.dumps(v)))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def wrk_check(name, what, r):
    if r["non2xx"] or r["errors"]:
        out(name, "WARNING %s: %d non-2xx answers, %d socket errors",
            what, r["non2xx"], r["errors"])


# -- nginx, fakes, parked requests -------------------------------------------

def nginx(d, http_config, workers=1, conns=4096):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 2 * conns + 100
    if hard != resource.RLIM_INFINITY:
        nofile = min(nofile, hard)
    ng = vg.Nginx(d, http_config, workers=workers, log_level="warn",
                  main_config="worker_rlimit_nofile %d;" % nofile,
                  events="worker_connections %d;" % conns)
    return ng


def get_json(port, path):
    return vg.get(port, path).json()


def wait_status(port, pred, timeout=15.0):
    last = [None]

    def check():
        try:
            last[0] = get_json(port, "/status")
        except OSError:
            return False
        return last[0] is not None and pred(last[0])
    if not vg.wait_for(check, timeout=timeout, interval=0.05):
        raise RuntimeError("status not reached, last: %r" % (last[0],))
    return last[0]


def chat_body(task_ms, messages=None):
    return json.dumps({"messages": messages or
                       [{"role": "user", "content": "hello"}],
                       "_task_ms": task_ms}, separators=(",", ":"))


def raw_post(path, body):
    b = body.encode()
    return (("POST %s HTTP/1.1\r\nHost: bench\r\n"
             "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n")
            % (path, len(b))).encode() + b


def hold_busy(port, path="/chat"):
    """one task that keeps the pool's only worker busy for an hour"""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(raw_post(path, chat_body(3600 * 1000)))
    wait_status(port, lambda st: st["busy_workers"] == 1)
    return s


def answered(socks, timeout=0.0):
    """the sockets among socks that have something to read"""
    poller = select.poll()
    byfd = {}
    for s in socks:
        poller.register(s, select.POLLIN)
        byfd[s.fileno()] = s
    return [byfd[fd] for fd, _ in poller.poll(int(timeout * 1000))]


def park(port, n, request, batch=50, stop_on_answer=False):
    """open n connections, each sending request (parked by the gateway);
    with stop_on_answer, stop at the first batch in which one is answered:
    returns (held sockets, [(socket, first bytes of the answer)])"""
    socks, answers = [], []
    while len(socks) < n:
        b = []
        for _ in range(min(batch, n - len(socks))):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(request)
            b.append(s)
        socks += b
        if stop_on_answer:
            time.sleep(0.02)
            for s in answered(b, 0.05):
                answers.append((s, s.recv(4096)))
            if answers:
                break
    return socks, answers


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def fake(d, *args):
    return vg.FakeWorker(d, args=list(args)).start()


def error_summary(ng):
    """counts of [crit]/[alert]/[error] lines, and a few examples"""
    lines = [l for l in ng.error_log().splitlines()
             if re.search(r"\[(error|crit|alert|emerg)\]", l)]
    kinds = {}
    for l in lines:
        k = re.sub(r"^.*?\[(\w+)\] \d+#\d+: (\*\d+ )?", r"[\1] ", l)
        k = re.sub(r"\d+", "N", k.split(", client:")[0])[:120]
        kinds[k] = kinds.get(k, 0) + 1
    return kinds


def report_errors(name, ng, expected=()):
    kinds = error_summary(ng)
    for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
        tag = "" if any(e in k for e in expected) else "  <-- unexpected"
        out(name, "error.log %6d x %s%s", n, k, tag)
    if not kinds:
        out(name, "error.log: no [error]/[crit]/[alert] lines")


def proc_mem(pid):
    m = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssShmem", "RssFile", "VmHWM"):
                m[k] = int(v.split()[0])
    return m


def stop(ng):
    if not ng.stop(timeout=5):
        ng.kill()


# -- 1. grant latency --------------------------------------------------------

class KeepAliveClient:
    """one client connection that sends the same request again as soon as
    the answer is in (HTTP/1.1 keep-alive), in its own thread"""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        self.answers = {}
        self.pid = None

    def roundtrip(self, request):
        self.sock.sendall(request)
        return self.read_answer()

    def read_answer(self):
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buf += data
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(rest) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            rest += data
        self.buf = rest[n:]
        status = int(head.split(b" ", 2)[1])
        self.answers[status] = self.answers.get(status, 0) + 1
        return status, head, rest[:n]

    def loop(self, request, stop):
        try:
            while not stop.is_set():
                self.roundtrip(request)
        except (OSError, EOFError):
            pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class FakeAdapter:
    """t/support/fake_worker.py, as the benchmarks use it"""

    kind = "fake worker (t/support/fake_worker.py, thread per connection)"

    def __init__(self, d, *args):
        self.f = fake(d, *args)
        self.port = self.f.port

    def reset(self):
        vg.request("POST", self.port, "/_fake/reset", body={})

    def running(self):
        return self.f.stats()["running"]

    def stats(self):
        st = self.f.stats(tasks=True)
        st["tasks"] = [t for t in st["tasks"] if t["status"] == "done"]
        return st

    def stop(self):
        self.f.stop()


class StopwatchAdapter:
    """bench/stopwatch_worker.py: single-threaded, exact bookkeeping"""

    kind = "stopwatch worker (bench/stopwatch_worker.py, one event loop)"

    def __init__(self, d, task_ms=0):
        self.port = vg.free_port()
        pidfile = os.path.join(d, "stopwatch-%d.pid" % self.port)
        subprocess.Popen([sys.executable,
                          os.path.join(ROOT, "bench", "stopwatch_worker.py"),
                          "--port", str(self.port), "--task-ms", str(task_ms),
                          "--pidfile", pidfile], stdin=subprocess.DEVNULL)
        if not vg.wait_for(lambda: os.path.exists(pidfile), timeout=10):
            raise RuntimeError("stopwatch worker did not start")
        with open(pidfile) as fh:
            self.pid = int(fh.read())
        vg.at_cleanup(self.stop)

    def reset(self):
        vg.request("POST", self.port, "/_reset")

    def running(self):
        return self.stats()["running"]

    def stats(self):
        return vg.get(self.port, "/_stats").json()

    def stop(self):
        if self.pid and vg.pid_alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            vg.wait_for(lambda: not vg.pid_alive(self.pid), timeout=5)
        self.pid = None


def task_gaps(tasks):
    """gaps (ms) between consecutive tasks, all / crossing nginx processes /
    within one, and tasks per nginx pid"""
    tasks = sorted(tasks, key=lambda t: t["start"])
    gaps, cross, same = [], [], []
    for a, b in zip(tasks, tasks[1:]):
        g = (b["start"] - a["end"]) * 1000.0
        gaps.append(g)
        if a["headers"].get("x-nginx-pid") != b["headers"].get("x-nginx-pid"):
            cross.append(g)
        else:
            same.append(g)
    pids = {}
    for t in tasks:
        pid = t["headers"].get("x-nginx-pid")
        pids[pid] = pids.get(pid, 0) + 1
    return gaps, cross, same, pids


def bench_grant():
    name = "grant"
    task_ms = int(os.environ.get("GRANT_TASK_MS", "20"))
    secs = int(os.environ.get("GRANT_S", "25"))
    base_secs = int(os.environ.get("GRANT_BASE_S", "15"))
    per = int(os.environ.get("GRANT_CLIENTS", "40")) // 2
    # GRANT_PARKED: that many more requests parked in a pool of their own
    # (its one worker held busy) all along: a grant must cost the same
    # with 10,000 parked as with the 40 of the ring (issue 13, point 6)
    ballast_n = int(os.environ.get("GRANT_PARKED", "0"))
    d = workdir(name)
    workers = {"fake": FakeAdapter(d, "--chat-ms", str(task_ms)),
               "sw": StopwatchAdapter(d, task_ms)}
    ballast_worker = fake(d)
    port = vg.free_port()
    ng = nginx(d, """
    voicegw_zone vg_bench %(zone)s;
    upstream ballast {
        voicegw_pool queue=20000 queue_timeout=60m;
        server 127.0.0.1:%(bp)d;
    }
    upstream vgpool {
        voicegw_pool queue=1000 queue_timeout=10m;
        server 127.0.0.1:%(fp)d;
    }
    upstream plain {
        server 127.0.0.1:%(fp)d;
    }
    upstream swpool {
        voicegw_pool queue=1000 queue_timeout=10m;
        server 127.0.0.1:%(sp)d;
    }
    upstream swplain {
        server 127.0.0.1:%(sp)d;
    }
    server {
        listen 127.0.0.1:%(p)d reuseport;
        access_log off;
        location = /fake/pool {
            voicegw_task chat pool=vgpool;
            proxy_pass http://vgpool/chat;
            proxy_set_header X-Bench pool;
            proxy_set_header X-Nginx-Pid $pid;
        }
        location = /fake/plain {
            proxy_pass http://plain/chat;
            proxy_set_header X-Bench plain;
            proxy_set_header X-Nginx-Pid $pid;
        }
        location = /sw/pool {
            voicegw_task chat pool=swpool;
            proxy_pass http://swpool/chat;
            proxy_set_header X-Bench pool;
            proxy_set_header X-Nginx-Pid $pid;
        }
        location = /sw/plain {
            proxy_pass http://swplain/chat;
            proxy_set_header X-Bench plain;
            proxy_set_header X-Nginx-Pid $pid;
        }
        location = /ballast {
            voicegw_task chat pool=ballast;
            proxy_pass http://ballast/chat;
            proxy_read_timeout 3600s;
        }
        location = /pid { return 200 $pid; }
        location / { voicegw_api; }
    }
    """ % {"fp": workers["fake"].port, "sp": workers["sw"].port, "p": port,
           "bp": ballast_worker.port,
           "zone": "64m" if ballast_n > 1000 else "8m"},
        workers=2, conns=ballast_n + 4000).start(wait_ports=[port])
    wait_status(port, lambda st: st["idle_workers"] == 3)
    ballast = []
    if ballast_n:
        hold = socket.create_connection(("127.0.0.1", port))
        hold.sendall(raw_post("/ballast", chat_body(3600 * 1000)))
        wait_status(port, lambda st: st["busy_workers"] == 1)
        ballast, _ = park(port, ballast_n,
                          raw_post("/ballast", chat_body(1)), batch=200)
        ballast.append(hold)
        wait_status(port, lambda st: st["queue_length"] >= ballast_n)
        out(name, "%d requests parked in a pool of their own (spread over "
            "both nginx processes by reuseport) all along", ballast_n)
    body = chat_body(task_ms)
    pid_req = b"GET /pid HTTP/1.1\r\nHost: bench\r\n\r\n"

    # client connections, sorted by the nginx process that accepted them
    # (reuseport spreads them by a hash of the address)
    by_pid = {}
    spare = []
    for _ in range(50 * per):
        c = KeepAliveClient(port)
        c.pid = c.roundtrip(pid_req)[2].decode()
        group = by_pid.setdefault(c.pid, [])
        (group if len(group) < per else spare).append(c)
        if len(by_pid) == 2 and all(len(g) >= per for g in by_pid.values()):
            break
    close_all([c.sock for c in spare])
    groups = list(by_pid.values())
    if len(groups) != 2 or any(len(g) < per for g in groups):
        raise RuntimeError("could not get %d connections to each of two "
                           "nginx processes: %r" % (per, {k: len(v) for k, v
                                                          in by_pid.items()}))

    def phase(w, tag, path, ring, seconds):
        """the clients of `ring`, in that order, each re-sending at once:
        the queue keeps that order (FIFO, every answer goes back to its
        tail), so consecutive grants alternate as the ring does"""
        w.reset()
        req = raw_post(path, body)
        for c in ring:
            c.answers = {}
        stop_ev = threading.Event()
        threads = []
        for c in ring:
            th = threading.Thread(target=c.loop, args=(req, stop_ev),
                                  daemon=True)
            th.start()
            threads.append(th)
            if len(ring) > 1:
                time.sleep(0.004)          # admitted in this order
        qlen = []
        t_end = time.time() + seconds
        time.sleep(min(3, seconds / 2))
        while time.time() < t_end:
            # GRANT_QLEN=0: no /status while grants are timed (a reader
            # of the whole state is not what is measured)
            if os.environ.get("GRANT_QLEN", "1") != "0":
                qlen.append(get_json(port, "/status")["queue_length"])
            time.sleep(min(3, max(0.1, t_end - time.time())))
        stop_ev.set()
        for th in threads:
            th.join(timeout=3 + task_ms * len(ring) / 1000.0)
        vg.wait_for(lambda: w.running() == 0, timeout=10)
        st = w.stats()
        tasks = [t for t in st["tasks"] if t["headers"].get("x-bench") == tag]
        gaps, cross, same, pids = task_gaps(tasks)
        answers = {}
        for c in ring:
            for k, v in c.answers.items():
                answers[k] = answers.get(k, 0) + v
        return {"gaps": gaps, "cross": cross, "same": same, "pids": pids,
                "max_concurrent": st["max_concurrent"],
                "overlaps": st["overlaps"], "qlen": qlen, "answers": answers,
                "durations": [(t["end"] - t["start"]) * 1000 for t in tasks]}

    a, b = groups
    # queue order A A B B A A B B ...: every other grant crosses processes
    ring = []
    for i in range(0, per, 2):
        ring += a[i:i + 2] + b[i:i + 2]
    results = {}
    for key, w, bs, ps in (("fake", workers["fake"], base_secs, secs),
                           ("sw", workers["sw"], max(5, base_secs * 2 // 3),
                            max(10, secs * 4 // 5))):
        # the pool first: tasks of the plain proxy make the worker report
        # itself busy to the health check ("someone else's work"), and the
        # gateway then rightly waits for a check that finds it idle
        wait_status(port, lambda st: st["idle_workers"]
                    == (2 if ballast_n else 3))
        pool = phase(w, "pool", "/%s/pool" % key, ring, ps)
        base = phase(w, "plain", "/%s/plain" % key, [a[0]], bs)
        results[key] = (base, pool)
        report_grant(name, w, task_ms, base, pool, bs, ps, per)
    close_all([c.sock for g in groups for c in g])
    close_all(ballast)
    errors_seen = error_summary(ng)
    stop(ng)
    for w in workers.values():
        w.stop()
    ballast_worker.stop()

    worst = 0
    for key, (base, pool) in results.items():
        worst = max(worst, pct(pool["gaps"], 99), pct(pool["cross"], 99))
    out(name, "target p99 <= 10 ms (worst p99 of all and of cross-process "
        "grants, both workers): %.2f ms -> %s", worst,
        "MET" if worst <= 10 else "MISSED")
    for k, n in errors_seen.items():
        out(name, "error.log %d x %s", n, k)
    if not errors_seen:
        out(name, "error.log: no [error]/[crit]/[alert] lines")


def report_grant(name, w, task_ms, base, pool, bs, ps, per):
    out(name, "-- %s, %d ms tasks (measured p50 %.1f ms); gap = start of "
        "task k+1 - end of task k on the worker's clock", w.kind, task_ms,
        pct(pool["durations"] or [0], 50))
    out(name, "plain nginx proxy_pass, 1 client back-to-back (%d s, "
        "answers %s): %s", bs, base["answers"], dist(base["gaps"]))
    out(name, "voicegw pool, %d keep-alive clients, %d on each of 2 nginx "
        "workers, queue order A A B B ... (%d s, answers %s, queue length "
        "sampled %s)", 2 * per, per, ps, pool["answers"],
        "/".join(str(q) for q in pool["qlen"]))
    out(name, "  all grants:           %s", dist(pool["gaps"]))
    out(name, "  cross-process grants: %s",
        dist(pool["cross"] or [float("nan")]))
    out(name, "  same-process grants:  %s",
        dist(pool["same"] or [float("nan")]))
    out(name, "  tasks per nginx pid: %s; worker's max_concurrent %d, "
        "overlaps %d", pool["pids"], pool["max_concurrent"],
        pool["overlaps"])
    neg = [g for g in pool["gaps"] if g < 0]
    if neg:
        out(name, "  %d gaps are negative, down to %.2f ms: the worker "
            "stamped a task's end after nginx, which had its whole answer, "
            "had connected with the next one (a thread of the fake late "
            "for the GIL); a double-booked worker would show about -%d ms",
            len(neg), min(neg), task_ms)
    for p in (50, 90, 99):
        out(name, "ratio voicegw/plain p%d: all %.2f (%+.2f ms), "
            "cross-process %.2f (%+.2f ms)", p,
            pct(pool["gaps"], p) / pct(base["gaps"], p),
            pct(pool["gaps"], p) - pct(base["gaps"], p),
            pct(pool["cross"], p) / pct(base["gaps"], p),
            pct(pool["cross"], p) - pct(base["gaps"], p))


# -- 2./3. /status, /api/queue and the ETA with 1000 queued ------------------

class QueueSetup:
    """one nginx worker, a pool of one fake worker busy for an hour, and
    n requests parked behind it"""

    def __init__(self, name, n):
        self.name = name
        self.d = workdir(name)
        self.f = fake(self.d)
        self.port = vg.free_port()
        self.pad = os.path.join(self.d, "pad")
        os.makedirs(self.pad)
        self.conf = """
    voicegw_zone vg_bench 32m;
    upstream vgpool {
        voicegw_pool queue=20000 queue_timeout=60m;
        server 127.0.0.1:%(fp)d;
    }
    server {
        listen 127.0.0.1:%(p)d;
        access_log off;
        location = /chat {
            voicegw_task chat;
            proxy_pass http://vgpool/chat;
            proxy_read_timeout 3600s;
        }
        location /plain/ {
            default_type application/json;
            alias %(pad)s/;
        }
        location = /plain/status {
            default_type application/json;
            return 200 '%(status_pad)s';
        }
        location / { voicegw_api; }
    }
    """ % {"fp": self.f.port, "p": self.port, "pad": self.pad,
           "status_pad": '{"pad":"%s"}' % ("x" * 470)}
        self.ng = nginx(self.d, self.conf, workers=1, conns=20000)
        self.ng.start(wait_ports=[self.port])
        wait_status(self.port, lambda st: st["idle_workers"] == 1)
        self.busy = hold_busy(self.port)
        self.socks, ans = park(self.port, n, raw_post("/chat",
                                                      chat_body(1)))
        wait_status(self.port, lambda st: st["queue_length"] == n)
        self.pid = self.ng.worker_pids()[0]

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def check(self):
        """the parked requests are all still there, the worker still busy"""
        st = get_json(self.port, "/status")
        if st["queue_length"] != len(self.socks) or st["busy_workers"] != 1:
            raise RuntimeError("%s: the queue changed under the benchmark: "
                               "%d queued, %d busy (expected %d, 1)" %
                               (self.name, st["queue_length"],
                                st["busy_workers"], len(self.socks)))

    def body(self, path):
        return vg.get(self.port, path).body

    def shrink(self, n):
        """let all but n of the parked requests go (the clients close)"""
        close_all(self.socks[n:])
        self.socks = self.socks[:n]
        wait_status(self.port, lambda st: st["queue_length"] == n)

    def close(self):
        close_all(self.socks)
        self.busy.close()
        report_errors(self.name, self.ng)
        stop(self.ng)
        self.f.stop()


def bench_queue():
    name = "queue"
    n = int(os.environ.get("QUEUED", "1000"))
    q = QueueSetup(name, n)
    try:
        # same-size bodies for plain nginx: "return 200" of 480 bytes for
        # /status; a static file with the very bytes of /api/queue (a
        # "return" string cannot be that long in nginx.conf)
        st_body = q.body("/status")
        qu_body = q.body("/api/queue")
        assert json.loads(qu_body)["queue_length"] == n
        with open(os.path.join(q.pad, "status.json"), "wb") as fh:
            fh.write(st_body)
        with open(os.path.join(q.pad, "queue.json"), "wb") as fh:
            fh.write(qu_body)
        out(name, "%d parked requests (1 worker busy), one nginx worker; "
            "body bytes: /status %d, /api/queue %d (%.0f per entry)",
            n, len(st_body), len(qu_body), len(qu_body) / n)

        res = {}
        for key, path in (("plain_status", "/plain/status"),
                          ("status", "/status"),
                          ("plain_queue", "/plain/queue.json"),
                          ("queue", "/api/queue")):
            res[key] = r = wrk(q.url(path))
            q.check()
            wrk_check(name, path, r)
            out(name, "%-22s %9.0f req/s  p50 %.2f ms  p99 %.2f ms  "
                "%.0f MB/s", path, r["rps"], r["lat"].get(50, 0),
                r["lat"].get(99, 0), r.get("bytes_s", 0) / 1e6)
        out(name, "ratio /status / return 200 of 480 B  = %.3f",
            res["status"]["rps"] / res["plain_status"]["rps"])
        out(name, "ratio /api/queue / static same size  = %.3f",
            res["queue"]["rps"] / res["plain_queue"]["rps"])

        if PERF or (res["queue"]["rps"] < 20000 and PERF_AUTO
                    and shutil.which("perf")):
            perf_queue(q, name)

        # the same with shorter queues, to see what the entries cost
        for small in [int(x) for x in os.environ.get(
                "QUEUED_SMALL", "100,10").split(",")]:
            q.shrink(small)
            sb = q.body("/api/queue")
            fn = "queue_%d.json" % small
            with open(os.path.join(q.pad, fn), "wb") as fh:
                fh.write(sb)
            r1 = wrk(q.url("/plain/" + fn))
            r2 = wrk(q.url("/api/queue"))
            q.check()
            wrk_check(name, "%d queued" % small, r2)
            out(name, "with %4d queued (%6d bytes): static %6.0f req/s, "
                "/api/queue %6.0f req/s, ratio %.3f", small, len(sb),
                r1["rps"], r2["rps"], r2["rps"] / r1["rps"])
        for key in ("status", "queue"):
            rps = res[key]["rps"]
            out(name, "target >= 20k req/s, %s with %d queued: %.0f -> %s",
                "/status" if key == "status" else "/api/queue", n, rps,
                "MET" if rps >= 20000 else
                "MISSED by %.0f%%" % (100 * (1 - rps / 20000)))
    finally:
        q.close()


def perf_queue(q, name):
    """perf record (DWARF call graphs) of the nginx worker during GET
    /api/queue: the inclusive share of the functions that matter"""
    data = os.path.join(q.d, "perf.data")
    p = wrk(q.url("/api/queue"), duration=7, background=True)
    time.sleep(1)
    subprocess.run(["perf", "record", "-q", "-F", "2000", "--call-graph",
                    "dwarf,16384", "-o", data, "-p", str(q.pid), "--",
                    "sleep", "4"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p.communicate()
    q.check()
    rep = subprocess.run(["perf", "report", "-i", data, "--no-children",
                          "--stdio", "-g", "none", "--sort", "dso"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout
    dsos = re.findall(r"^\s*([\d.]+)%\s+(\S+)\s*$", rep, re.M)
    out(name, "perf record of the nginx worker during GET /api/queue with "
        "%d queued, self time by object: %s", len(q.socks), ", ".join(
            "%s %s%%" % (d, p) for p, d in dsos if float(p) >= 0.5))
    rep = subprocess.run(["perf", "report", "-i", data, "--children",
                          "--stdio", "-g", "none", "--percent-limit", "3",
                          "--sort", "symbol"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout
    out(name, "perf record of the nginx worker during GET /api/queue with "
        "%d queued (inclusive %%, self %%; call chains below 95%%):",
        len(q.socks))
    if not os.environ.get("KEEP_PERF"):
        os.unlink(data)                 # about 100 MB with DWARF stacks
    others = 0
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[(.)\]\s+(\S+)", line)
        if (not m or float(m.group(1)) >= 95
                or m.group(4).startswith(("0x", "__libc_start", "asm_"))):
            continue
        ours = m.group(4).startswith(("ngx_voicegw", "yajl", "ngx_"))
        if not ours:
            others += 1
            if others > 10:
                continue
        out(name, "  %6s%% %6s%%  %s%s", m.group(1), m.group(2),
            m.group(4), " (kernel)" if m.group(3) == "k" else "")


def bench_eta():
    name = "eta"
    n = int(os.environ.get("QUEUED", "1000"))
    q = QueueSetup(name, n)
    try:
        e = json.loads(q.body("/api/queue"))["entries"]
        first, last = e[0]["ticket_id"], e[-1]["ticket_id"]
        lj = json.loads(q.body("/api/queue/" + last))
        out(name, "%d queued behind one busy worker; last ticket: position "
            "%d, eta_seconds %.1f", n, lj["position"], lj["eta_seconds"])
        res = {}
        for key, path in (("health", "/health"),
                          ("first", "/api/queue/" + first),
                          ("last", "/api/queue/" + last)):
            res[key] = r = wrk(q.url(path), conns=1, duration=5)
            q.check()
            wrk_check(name, path, r)
            out(name, "%-30s %7.0f req/s  avg %.3f  p50 %.3f  p90 %.3f  "
                "p99 %.3f ms", key if key == "health" else
                "/api/queue/{%s, pos %d}" % (key, 1 if key == "first" else n),
                r["rps"], r["lat_avg"], r["lat"][50], r["lat"][90],
                r["lat"][99])
        for a, b in (("last", "health"), ("last", "first")):
            out(name, "%s - %s: p50 %+.3f ms, p99 %+.3f ms, per request "
                "(1/rps) %+.3f ms", a, b,
                res[a]["lat"][50] - res[b]["lat"][50],
                res[a]["lat"][99] - res[b]["lat"][99],
                1000 / res[a]["rps"] - 1000 / res[b]["rps"])
        out(name, "ratio latency p50 last/health = %.2f",
            res["last"]["lat"][50] / res["health"]["lat"][50])
        added = 1000 / res["last"]["rps"] - 1000 / res["health"]["rps"]
        whole = res["last"]["lat"][99]
        out(name, "target: ETA of 1000 tickets <= 1 ms: the whole request "
            "for the 1000th ticket (walk of the queue, ETA of all 1000, "
            "JSON, HTTP) p99 %.3f ms; its cost over /health %.3f ms per "
            "request -> %s", whole, added,
            "MET" if whole <= 1.0 or added <= 1.0 else "MISSED")
    finally:
        q.close()


# -- 4. shared memory per ticket ---------------------------------------------

def conversation(nbytes):
    msgs = [{"role": "system", "content": "You are a helpful assistant."}]
    i = 0
    while len(json.dumps(msgs)) < nbytes:
        role = "user" if i % 2 == 0 else "assistant"
        msgs.append({"role": role, "content": ("turn %d: " % i) +
                     "lorem ipsum dolor sit amet " * 10})
        i += 1
    return msgs


def shm_fill(name, zone, body_bytes, affinity, target=None):
    """start a fresh gateway with a zone of `zone`, park until 503
    zone_full (or `target` parked): (tickets held, answer, ng errors)"""
    d = workdir("%s-%s-%s-%s" % (name, zone, body_bytes, target))
    f = fake(d)
    port = vg.free_port()
    ng = nginx(d, """
    voicegw_zone vg_bench %(zone)s;
    upstream vgpool {
        voicegw_pool queue=%(q)d queue_timeout=60m;
        server 127.0.0.1:%(fp)d;
    }
    server {
        listen 127.0.0.1:%(p)d;
        access_log off;
        client_body_buffer_size 128k;
        location = /chat {
            voicegw_task chat %(aff)s;
            proxy_pass http://vgpool/chat;
            proxy_read_timeout 3600s;
        }
        location / { voicegw_api; }
    }
    """ % {"zone": zone, "q": target or 1000000, "fp": f.port, "p": port,
           "aff": "affinity=messages" if affinity else ""},
        workers=1, conns=19000).start(wait_ports=[port])
    try:
        wait_status(port, lambda st: st["idle_workers"] == 1)
        msgs = conversation(body_bytes) if body_bytes else None
        req = raw_post("/chat", chat_body(1, msgs))
        busy = hold_busy(port)
        t0 = time.time()
        socks, ans = park(port, target or 200000, req, batch=100,
                          stop_on_answer=True)
        time.sleep(0.3)
        for s in answered(socks, 0):
            if all(s is not a for a, _ in ans):
                ans.append((s, s.recv(4096)))
        st = get_json(port, "/status")
        held = st["queue_length"] + st["busy_workers"]
        secs = time.time() - t0
        answer = ans[0][1].decode("latin-1") if ans else ""
        m = re.search(r"^HTTP/1.1 (\d+)", answer)
        code = re.search(r'"error":"(\w+)"', answer)
        kinds = error_summary(ng)
        close_all(socks)
        busy.close()
        return {"held": held, "len": len(req), "status": m and m.group(1),
                "error": code and code.group(1), "answers": len(ans),
                "errors": kinds, "secs": secs,
                "bytes": len(json.dumps(msgs)) if msgs else 0}
    finally:
        stop(ng)
        f.stop()


def bench_shm():
    name = "shm"
    mib = 1024 * 1024
    res = {}
    sizes = [int(x) for x in os.environ.get("SHM_BODIES",
                                            "0,4000,64000").split(",")]
    for body in sizes:
        for zone in ("1m", "2m"):
            r = shm_fill(name, zone, body, body > 0)
            res[(zone, body)] = r
            out(name, "zone %s, %s: %d tickets held until %s %s (%d "
                "answered); zone/held = %.0f bytes per ticket", zone,
                "affinity=messages, %d-byte conversation" % r["bytes"]
                if body else "no affinity", r["held"], r["status"],
                r["error"], r["answers"], int(zone[:-1]) * mib
                / max(1, r["held"]))
            for k, n in r["errors"].items():
                out(name, "  error.log %d x %s", n, k)
    worst = 0
    for body in sizes:
        a, b = res[("1m", body)], res[("2m", body)]
        upper = 2 * mib / max(1, b["held"])
        marginal = mib / max(1, b["held"] - a["held"])
        worst = max(worst, marginal)
        out(name, "%s: marginal (2m - 1m zone) / (held 2m - held 1m) = "
            "%.0f bytes per ticket; upper bound (2m zone / held) %.0f",
            "no affinity" if not body
            else "%d-byte conversation" % b["bytes"], marginal, upper)
    out(name, "target <= 2 KiB (2048 bytes) of zone per ticket: worst "
        "marginal %.0f bytes -> %s", worst,
        "MET" if worst <= 2048 else "MISSED by %.0f bytes (%.1f%%)" %
        (worst - 2048, 100 * (worst / 2048 - 1)))

    # the spec's figure itself: 10,000 parked in 10,000 x 2 KiB
    n = int(os.environ.get("SHM_N", "10000"))
    for body in [int(x) for x in os.environ.get("SHM_N_BODIES",
                                                "4000,64000").split(",")]:
        zone = "%dk" % (n * 2)
        r = shm_fill(name, zone, body, True, target=n)
        out(name, "zone %s (= %d x 2 KiB), %d parked with %d-byte "
            "conversations: %d held (incl. the running one), %d answered "
            "early (%s %s), %.1f s -> %s", zone, n, n, r["bytes"],
            r["held"], r["answers"], r["status"], r["error"], r["secs"],
            "MET" if r["held"] >= n else "MISSED")
        for k, c in r["errors"].items():
            out(name, "  error.log %d x %s", c, k)


# -- 5. memory over 100k tasks -----------------------------------------------

def steady_nginx(d, zone, port, workers):
    """the gateway of the steady benchmarks: /chat through one pool of
    every worker in workers, two nginx processes"""
    return nginx(d, """
    voicegw_zone vg_bench %(zone)s;
    upstream vgpool {
        voicegw_pool queue=1000 queue_timeout=10m;
        %(servers)s
    }
    server {
        listen 127.0.0.1:%(p)d reuseport;
        access_log off;
        location = /chat {
            voicegw_task chat;
            proxy_pass http://vgpool/chat;
        }
        location / { voicegw_api; }
    }
    """ % {"zone": zone, "p": port, "servers": "\n        ".join(
        "server 127.0.0.1:%d;" % w.port for w in workers)},
        workers=2).start(wait_ports=[port])


def bench_steady():
    name = "steady"
    total = int(os.environ.get("TASKS", "100000"))
    nfakes = int(os.environ.get("FAKES", "4"))
    zone = os.environ.get("STEADY_ZONE", "8m")
    d = workdir(name)
    fakes = [fake(d, "--chat-ms", "0") for _ in range(nfakes)]
    port = vg.free_port()
    ng = steady_nginx(d, zone, port, fakes)
    try:
        wait_status(port, lambda st: st["idle_workers"] == nfakes)
        script = wrk_post_script(d, "chat", chat_body(0))

        def served():
            return sum(f.stats()["served"] for f in fakes)

        def first_ticket():
            r = vg.request("POST", port, "/chat", body=chat_body(0))
            return r.header("X-VoiceGW-Ticket")

        def sample(label):
            pids = ng.worker_pids()
            mem = [proc_mem(p) for p in pids]
            st = get_json(port, "/status")
            row = {"label": label, "tasks": served(),
                   "rss": sum(m["VmRSS"] for m in mem),
                   "anon": sum(m["RssAnon"] for m in mem),
                   "shmem": sum(m["RssShmem"] for m in mem),
                   "per": [(m["RssAnon"], m["RssShmem"]) for m in mem],
                   "queue": st["queue_length"], "t": time.time()}
            out(name, "%-7s %7d tasks: nginx workers RSS %6d KiB = anon "
                "%5d + shmem %5d (+file); per worker anon/shmem %s; "
                "queue_length %d", label, row["tasks"], row["rss"],
                row["anon"], row["shmem"], row["per"], row["queue"])
            return row

        t_first = first_ticket()
        # warm-up: every nginx worker's pools and buffers reach their size
        warm = wrk("http://127.0.0.1:%d/chat" % port, conns=32, threads=2,
                   duration=5, script=script)
        rows = [sample("start")]
        p = wrk("http://127.0.0.1:%d/chat" % port, conns=32, threads=2,
                duration=600, script=script, timeout="30s", background=True)
        t0 = time.time()
        base = rows[0]["tasks"]
        marks = [(0.25, "25%"), (0.5, "middle"), (0.75, "75%")]
        while True:
            time.sleep(1)
            done = served() - base
            if marks and done >= marks[0][0] * total:
                rows.append(sample(marks.pop(0)[1]))
            if done >= total:
                break
            if p.poll() is not None or time.time() - t0 > 900:
                out(name, "load generator stopped early")
                break
        p.send_signal(signal.SIGINT)
        r = parse_wrk(p.communicate()[0])
        secs = time.time() - t0
        time.sleep(1)
        rows.append(sample("end"))
        t_last = first_ticket()
        fs = [f.stats() for f in fakes]
        old = vg.get(port, "/api/queue/" + (t_first or "tk_0"))
        new = vg.get(port, "/api/queue/" + (t_last or "tk_0"))
        done = rows[-1]["tasks"] - base
        out(name, "%d tasks in %.0f s (%.0f tasks/s) through %d fake workers "
            "(0 ms tasks), 32 client connections; wrk: %d non-2xx, %d "
            "socket errors; warm-up %.0f req/s", done, secs, done / secs,
            nfakes, r["non2xx"], r["errors"], warm["rps"])
        gaps = []
        for f in fakes:
            ts = sorted(f.stats(tasks=True)["tasks"], key=lambda t: t["start"])
            gaps += [(b["start"] - a["end"]) * 1000.0
                     for a, b in zip(ts, ts[1:]) if a["end"] and b["end"]]
        out(name, "fake workers: max_concurrent %s, overlaps %s; gaps "
            "between consecutive tasks on a fake (last 1000 each): min "
            "%.2f ms, p50 %.2f ms, %d of %d negative%s",
            [x["max_concurrent"] for x in fs], [x["overlaps"] for x in fs],
            min(gaps), pct(gaps, 50), sum(1 for g in gaps if g < 0),
            len(gaps), " (see the exact check below: a fake's thread can "
            "stamp a task's end late under the GIL)" if min(gaps) < 0
            else "")
        a, m, e = rows[0], rows[len(rows) // 2], rows[-1]
        out(name, "RssAnon (private heap) of the nginx workers: start %d, "
            "middle %d, end %d KiB (end/start %.3f)", a["anon"], m["anon"],
            e["anon"], e["anon"] / a["anon"])
        out(name, "RssShmem (zone pages touched, bounded by the %s zone): "
            "start %d, end %d KiB", zone, a["shmem"], e["shmem"])
        out(name, "finished tickets: the first one (%s) -> %d (%s), the "
            "last one -> %d %s", t_first, old.status,
            "evicted" if old.status == 404 else "kept", new.status,
            (new.json() or {}).get("status"))
        grew = e["anon"] - a["anon"]
        out(name, "memory steady (anon growth %+d KiB over %d tasks, no "
            "zone_full) -> %s", grew, done,
            "MET" if grew < 1024 and not r["non2xx"] else "CHECK")
        report_errors(name, ng)
    finally:
        stop(ng)
        for f in fakes:
            f.stop()
    steady_exact(name, d, nfakes)


def steady_exact(name, d, nw):
    """the fake workers' overlaps, checked with workers whose bookkeeping
    is exact (bench/stopwatch_worker.py), 1 ms tasks"""
    total = int(os.environ.get("EXACT_TASKS", "20000"))
    ws = [StopwatchAdapter(d, 1) for _ in range(nw)]
    port = vg.free_port()
    ng = steady_nginx(os.path.join(d, "exact"), "8m", port, ws)
    try:
        wait_status(port, lambda st: st["idle_workers"] == nw)
        script = wrk_post_script(d, "chat1", chat_body(1))
        p = wrk("http://127.0.0.1:%d/chat" % port, conns=32, threads=2,
                duration=300, script=script, timeout="30s", background=True)
        t0 = time.time()
        while sum(w.stats()["served"] for w in ws) < total:
            if p.poll() is not None or time.time() - t0 > 300:
                break
            time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        r = parse_wrk(p.communicate()[0])
        vg.wait_for(lambda: all(w.running() == 0 for w in ws), timeout=10)
        sts = [w.stats() for w in ws]
        gaps = []
        for st in sts:
            gaps += task_gaps(st["tasks"])[0]
        out(name, "exact check, %d stopwatch workers (1 ms tasks, one event "
            "loop each), 32 clients: %d tasks in %.0f s, wrk %d non-2xx; "
            "max_concurrent %s, overlaps %s; gaps between a worker's tasks: "
            "min %.2f ms, p50 %.2f ms -> %s", nw,
            sum(st["served"] for st in sts), time.time() - t0, r["non2xx"],
            [st["max_concurrent"] for st in sts],
            [st["overlaps"] for st in sts], min(gaps), pct(gaps, 50),
            "never two tasks on one worker" if all(
                st["max_concurrent"] == 1 for st in sts)
            else "DOUBLE-BOOKED")
    finally:
        stop(ng)
        for w in ws:
            w.stop()


BENCHES = {"grant": bench_grant, "queue": bench_queue, "eta": bench_eta,
           "shm": bench_shm, "steady": bench_steady}


def main():
    names = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not names or any(n not in BENCHES for n in names):
        print("usage: %s %s [--perf]" % (sys.argv[0], "|".join(BENCHES)),
              file=sys.stderr)
        return 2
    for n in names:
        with open("/proc/loadavg") as fh:
            load = " ".join(fh.read().split()[:3])
        with open(vg.MODULES.split()[0], "rb") as fh:
            sha = hashlib.sha256(fh.read()).hexdigest()[:16]
        out(n, "started %s, load average %s, module sha256 %s (built %s)",
            time.strftime("%H:%M:%S"), load, sha, time.strftime(
                "%H:%M:%S", time.localtime(os.path.getmtime(
                    vg.MODULES.split()[0]))))
        BENCHES[n]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
