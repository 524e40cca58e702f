#!/usr/bin/env python3
#
# t/support/selftest.py -- owns the harness the self-tests of the fakes
# share (test_fake_provider.py, test_fake_ws_provider.py,
# test_fake_worker.py): "ok"/"not ok" lines and their count, polling, free
# ports, and a fake started as its own process (it prints "ready", keeps
# a --record file of JSON lines, and stops on SIGTERM).

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

PROCS = []
RESULTS = {"ok": 0, "fail": 0}


def check(cond, name, detail=""):
    if cond:
        RESULTS["ok"] += 1
        print("ok - %s" % name)
    else:
        RESULTS["fail"] += 1
        print("not ok - %s%s" % (name, (": %s" % (detail,)) if detail != ""
                                 else ""))
    sys.stdout.flush()
    return cond


def until(pred, timeout=5.0):
    """Polls pred until it holds (its value) or timeout s pass."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.01)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class FakeProcess(object):
    """script --port P --key K --record F [args], on a free port, its
    stderr in tmp; a subclass names script, key and tmp."""

    script = key = tmp = None

    def __init__(self, *args):
        self.port = free_port()
        self.record = os.path.join(self.tmp, "seen-%d.jsonl" % self.port)
        self.err = open(os.path.join(self.tmp, "err-%d.log" % self.port),
                        "w")
        self.proc = subprocess.Popen(
            [sys.executable, self.script, "--port", str(self.port),
             "--key", self.key, "--record", self.record] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.err, text=True)
        PROCS.append(self.proc)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("the fake did not start: %r" % line)

    def seen(self):
        try:
            with open(self.record) as f:
                return [json.loads(line) for line in f]
        except OSError:
            return []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        return self.proc.returncode


def stop_all():
    """Kills every fake still running."""
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()


def summary(t0, tmp=None):
    """The last line and the exit code; tmp goes unless a check failed."""
    if tmp and RESULTS["fail"]:
        print("# left for inspection: %s" % tmp)
    elif tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    print("# %d ok, %d failed, %.1f s" % (RESULTS["ok"], RESULTS["fail"],
                                         time.monotonic() - t0))
    return 1 if RESULTS["fail"] else 0
