#!/usr/bin/env python3
#
# t/095-fuzz.t -- the parsers' fuzz targets (issue 13, point 2) in the
# suite: each builds (clang, libFuzzer, AddressSanitizer, UBSan), runs
# once over every file of its corpus in fuzz/corpus/<target>/ (the seeds,
# and every crash ever found: regression tests), then fuzzes for
# FUZZ_SMOKE seconds (5) from it.  Long runs: "./build.sh fuzz"
# (docs/fuzzing.md).

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import ROOT, diag, ok, tap  # noqa: E402

RUN = os.path.join(ROOT, "fuzz", "run.sh")
SMOKE = os.environ.get("FUZZ_SMOKE", "5")
TARGETS = ("usage", "reqscan", "json", "multipart", "wav", "strip", "wsframe",
           "rtunits", "args", "url", "zip", "conf", "secret",
           "reports", "proxypath", "catalog")

if not shutil.which("clang"):
    print("1..0 # SKIP no clang (./build.sh test installs it)")
    sys.exit(0)

if not os.path.exists(os.path.join(ROOT, "build", "objs",
                                   "ngx_auto_config.h")):
    print("1..0 # SKIP the module is not built (build/objs)")
    sys.exit(0)


def run(*args):
    env = dict(os.environ, FUZZ_NOBUILD="1")
    r = subprocess.run([RUN] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=900,
                       env=env)
    return r.returncode, r.stdout


for t in TARGETS:
    corpus = os.path.join(ROOT, "fuzz", "corpus", t)
    n = len(os.listdir(corpus)) if os.path.isdir(corpus) else 0
    ok(n > 0, "%s: a seed corpus in fuzz/corpus/%s (%d files)" % (t, t, n))

    rc, out = run("regress", t)
    if not ok(rc == 0, "%s builds and runs clean over its corpus" % t):
        diag(out[-3000:])
        continue

    rc, out = run("run", t, SMOKE)
    if not ok(rc == 0, "%s: %s s of fuzzing find nothing" % (t, SMOKE)):
        diag(out[-3000:])
        log = os.path.join(ROOT, "var", "fuzz", t + ".log")
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                diag(f.read()[-3000:])
    else:
        for line in out.splitlines():
            if "executed_units" in line:
                diag(line)

tap.done()
