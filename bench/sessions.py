#!/usr/bin/env python3
"""
bench/sessions.py -- benchmarks of the session files (issue 11, point 10),
called by bench/run.sh ("bench/run.sh sessions") or directly:

    python3 bench/sessions.py [assets] [zip]

  assets  GET /api/sessions/{id}/assets/user_audio/000.wav with
          "Range: bytes=1000-50999" (a 1 MiB file, 206 of 50,000 bytes),
          through the API's checks and the internal redirect to the
          voicegw_session_files location, vs a plain nginx "alias"
          location of the same folder, same nginx (one worker), wrk -t1
          -c32, alternating, ROUNDS rounds.         target >= 0.95 x plain
  zip     GET /api/sessions/{id}/download of a session holding one 1 GiB
          file vs GET of that file through the plain location (sendfile),
          curl to /dev/null, alternating, ZIP_ROUNDS rounds; the nginx
          worker's VmRSS sampled during the downloads.
                                    target >= 0.8 x plain, RSS flat

Runtime files: var/bench-sessions/.  Results go to stdout, one "name: ..."
line each.  Environment: DURATION (wrk seconds, default 10), ROUNDS (5),
ZIP_ROUNDS (15), ZIP_MB (1024).
"""

import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pool import nginx, out, stop, wrk, wrk_check  # noqa: E402
import vgtest as vg  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
D = os.path.join(ROOT, "var", "bench-sessions")
ROUNDS = int(os.environ.get("ROUNDS", "5"))
ZIP_MB = int(os.environ.get("ZIP_MB", "1024"))
ZIP_ROUNDS = int(os.environ.get("ZIP_ROUNDS", "15"))


def setup():
    S = os.path.join(D, "sessions")
    os.makedirs(os.path.join(S, "b", "user_audio"), exist_ok=True)
    with open(os.path.join(S, "b", "meta.json"), "w") as f:
        f.write('{"session_id": "b"}')
    with open(os.path.join(S, "b", "user_audio", "000.wav"), "wb") as f:
        f.write(os.urandom(1024 * 1024))
    big = os.path.join(S, "z", "ai_audio", "long.wav")
    if not os.path.exists(big) or os.path.getsize(big) != ZIP_MB << 20:
        os.makedirs(os.path.dirname(big), exist_ok=True)
        block = os.urandom(1 << 20)
        with open(big, "wb") as f:
            for i in range(ZIP_MB):
                f.write(i.to_bytes(8, "little") + block[8:])
    with open(os.path.join(S, "z", "meta.json"), "w") as f:
        f.write('{"session_id": "z"}')
    return S


def conf(S, port):
    # sendfile on (nginx's default is off): the plain file, and the ZIP's
    # file data, go by sendfile()
    return vg.sessions_conf("vg_bsess", S, port,
                            http="sendfile on;").replace(
        "        location / {",
        "        location /plain/ { alias %s/; }\n\n"
        "        location / {" % S)


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def curl_speed(url):
    p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                        "%{http_code} %{size_download} %{speed_download}",
                        url], stdout=subprocess.PIPE, text=True)
    code, size, speed = p.stdout.split()
    return int(code), int(size), float(speed)


def bench_assets(port):
    script = os.path.join(D, "range.lua")
    with open(script, "w") as f:
        f.write('wrk.headers["Range"] = "bytes=1000-50999"\n')
    api = "http://127.0.0.1:%d/api/sessions/b/assets/user_audio/000.wav" % port
    plain = "http://127.0.0.1:%d/plain/b/user_audio/000.wav" % port
    for u in (api, plain):
        r = vg.get(port, u.split(str(port), 1)[1],
                   headers={"Range": "bytes=1000-50999"})
        assert r.status == 206 and len(r.body) == 50000, (u, r.status)
    a, p = [], []
    for i in range(ROUNDS):
        pair = ((plain, p, "plain"), (api, a, "api"))
        for url, into, what in (pair if i % 2 == 0 else pair[::-1]):
            r = wrk(url, conns=32, script=script)
            wrk_check("assets", what, r)
            into.append(r["rps"])
    ratio = statistics.median(a) / statistics.median(p)
    paired = statistics.median([x / y for x, y in zip(a, p)])
    out("assets", "Range 206 of 50,000 bytes, wrk -t1 -c32 %ds x %d: "
        "API %.0f req/s (rounds %s), plain alias %.0f req/s (rounds %s): "
        "%.3f x plain; median of the rounds' own ratios %.3f (target >= "
        "0.95: %s)", int(os.environ.get(
            "DURATION", "10").rstrip("s")), ROUNDS, statistics.median(a),
        "/".join("%.0f" % x for x in a), statistics.median(p),
        "/".join("%.0f" % x for x in p), ratio, paired,
        "met" if min(ratio, paired) >= 0.95 else "MISSED")


def bench_zip(port, worker):
    api = "http://127.0.0.1:%d/api/sessions/z/download" % port
    plain = "http://127.0.0.1:%d/plain/z/ai_audio/long.wav" % port
    curl_speed(plain)                       # the page cache, warm
    a, p, peak = [], [], [0]
    base = rss(worker)

    def sampler(stop_ev):
        while not stop_ev.is_set():
            peak[0] = max(peak[0], rss(worker))
            time.sleep(0.05)

    def download(url, into, what):
        ev = threading.Event()
        t = threading.Thread(target=sampler, args=(ev,))
        t.start()
        code, size, speed = curl_speed(url)
        ev.set()
        t.join()
        assert code == 200 and size >= ZIP_MB << 20, (what, code, size)
        into.append(speed)

    # one transfer takes about half a second: many rounds, the order
    # alternating, and the ratio both of the medians and of each pair
    for i in range(ZIP_ROUNDS):
        pair = ((plain, p, "plain"), (api, a, "zip"))
        for url, into, what in (pair if i % 2 == 0 else pair[::-1]):
            download(url, into, what)
    ratio = statistics.median(a) / statistics.median(p)
    paired = statistics.median([x / y for x, y in zip(a, p)])
    mb = 1024 * 1024
    out("zip", "%d MiB x %d rounds: ZIP download %.0f MiB/s (rounds %s), "
        "plain file %.0f MiB/s (rounds %s): %.2f x plain; median of the "
        "rounds' own ratios %.2f (target >= 0.8: %s); worker VmRSS %d KiB "
        "before, %d KiB at most during the downloads (+%d KiB)", ZIP_MB,
        ZIP_ROUNDS, statistics.median(a) / mb,
        "/".join("%.0f" % (x / mb) for x in a), statistics.median(p) / mb,
        "/".join("%.0f" % (x / mb) for x in p), ratio, paired,
        "met" if min(ratio, paired) >= 0.8 else "MISSED", base, peak[0],
        peak[0] - base)


def main():
    which = [a for a in sys.argv[1:] if not a.startswith("-")] or \
        ["assets", "zip"]
    os.makedirs(D, exist_ok=True)
    S = setup()
    port = vg.free_port()
    ng = nginx(os.path.join(D, "nginx"), conf(S, port))
    ng.start(wait_ports=[port])
    try:
        worker = ng.worker_pids()[0]
        if "assets" in which:
            bench_assets(port)
        if "zip" in which:
            bench_zip(port, worker)
    finally:
        stop(ng)


if __name__ == "__main__":
    main()
