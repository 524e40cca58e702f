#!/usr/bin/env python3
#
# t/074-sessions-crc32.t -- the CRC-32 of the ZIP download
# (core/ngx_voicegw_crc32.c, issue 11 point 10): it gives zlib's crc32()
# value for every length from 0 to 1,100 bytes at each of 16 alignments,
# longer ones at a stride up to 256 KiB, from three running values, and
# fed in random pieces; the CRC of a 20 MiB file equals Python's
# zlib.crc32().  The same runs again under AddressSanitizer and UBSan
# (its 16-byte loads must never read past the buffer).  The speed
# against zlib is printed, not asserted.
#
# t/support/crc32_driver.c is built here, into var/, with the module's
# CRC source and zlib only: the nginx headers come from Debian's
# nginx-dev and build/objs/ngx_auto_config.h from ./build.sh.

import json
import os
import shutil
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, SANITIZE, build_c, diag, is_, ok,  # noqa: E402
                    tap)

NGX_SRC = os.environ.get("NGX_SRC", "/usr/share/nginx/src/src")
CORE = os.path.join(ROOT, "ngx_voicegw_module", "core")
VAR = os.path.join(ROOT, "var")
D = os.path.join(VAR, "074-sessions-crc32")

SOURCES = [os.path.join(ROOT, "t", "support", "crc32_driver.c"),
           os.path.join(CORE, "ngx_voicegw_crc32.c")]
INCLUDES = [os.path.join(ROOT, "build", "objs"),
            os.path.join(NGX_SRC, "core"), os.path.join(NGX_SRC, "event"),
            os.path.join(NGX_SRC, "os", "unix"), CORE]
NEEDED = [os.path.join(ROOT, "build", "objs", "ngx_auto_config.h"),
          os.path.join(NGX_SRC, "core", "ngx_core.h"), "/usr/include/zlib.h"]

if not shutil.which("cc"):
    print("1..0 # SKIP no C compiler (cc)")
    sys.exit(0)

for h in NEEDED:
    if not os.path.exists(h):
        print("1..0 # SKIP %s is missing" % h)
        sys.exit(0)

os.makedirs(D, exist_ok=True)


def drive(binary, args):
    r = subprocess.run([binary] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=600)
    out = r.stdout.decode("utf-8", "replace").strip()
    try:
        return r.returncode, json.loads(out.splitlines()[-1]), out
    except (ValueError, IndexError):
        return r.returncode, {}, out + r.stderr.decode("utf-8", "replace")


driver = os.path.join(D, "crc32_driver")
built, log = build_c(driver, SOURCES, INCLUDES, ["-lz"], opt="-O2")
if not ok(built, "the CRC driver builds with -Wall -Werror"):
    diag(log)
    sys.exit(tap.done())

asan = os.path.join(D, "crc32_driver_asan")
asan_built, asan_log = build_c(asan, SOURCES, INCLUDES, ["-lz"], SANITIZE,
                               opt="-O2")
if not asan_built:
    diag("no AddressSanitizer build here, its runs are skipped:")
    diag(asan_log[-2000:])

big = os.path.join(D, "twenty-mib")
data = os.urandom(20 * 1024 * 1024 + 7)
with open(big, "wb") as f:
    f.write(data)
want = zlib.crc32(data)

for binary, how in ((driver, "plain"), (asan if asan_built else None,
                                        "ASan/UBSan")):
    if binary is None:
        continue

    for seed in ("1", "2"):
        rc, r, out = drive(binary, ["check", seed])
        ok(rc == 0 and r.get("checked", 0) > 50000,
           "%s, seed %s: the checks run (%s of them)"
           % (how, seed, r.get("checked")))
        is_(r.get("mismatches"), 0,
            "%s, seed %s: every length, alignment, running value and "
            "split gives zlib's CRC" % (how, seed))
        if r.get("mismatches"):
            diag(out)

    for seed in ("3", "4"):
        rc, r, out = drive(binary, ["file", big, seed])
        is_(r.get("crc"), want, "%s: a 20 MiB file read in random pieces "
            "has Python's zlib.crc32 (seed %s)" % (how, seed))

rc, r, out = drive(driver, ["check", "5"])
if not r.get("clmul"):
    diag("this CPU has no PCLMULQDQ: zlib's tables did every CRC above")

rc, r, out = drive(driver, ["speed"])
ok(rc == 0 and r.get("same") is True,
   "the timing run's two CRCs of 1 GiB agree")
diag("CRC-32 over 1 GiB in 256 KiB buffers (-O2, not asserted): ours %s "
     "MB/s, zlib's %s MB/s" % (r.get("ours_mb_s"), r.get("zlib_mb_s")))

sys.exit(tap.done())
