#!/usr/bin/env python3
#
# t/072-sessions-zip.t -- issue 11, point 5 and part of 9: GET
# /api/sessions/{id}/download, the session's folder as a ZIP archive
# streamed while it is built:
#   - application/zip, an attachment named "{id}.zip";
#   - entries "{id}/{path}" for every regular file (nested folders, an
#     empty file), symbolic links and a FIFO left out, STORED, with data
#     descriptors (flag bit 3);
#   - a 300 MiB file: the archive passes "unzip -t" and Python's zipfile
#     (CRC checked), and the nginx worker's memory (VmRSS) stays flat
#     while it streams, also while the client stops reading for a while;
#   - DOS times: a file's time before 1980 or after 2107 is the nearest
#     end of DOS time's range;
#   - an empty folder gives a valid empty archive; an unknown session
#     404, a bad id 400, in JSON;
#   - a client that closes half-way leaves nothing behind: no alert, no
#     file descriptor kept, and the next download is whole;
#   - "sendfile on": a large file's data goes from the file while a thread
#     CRCs it (the 300 MiB above); a file cut short while it is sent ends
#     the transfer early (no complete archive), and the next one is whole.

import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (Nginx, SLOW, diag, free_port, get, is_, ok,  # noqa
                    sessions_conf, tap, wait_for, workdir)

d = workdir("072-sessions-zip")
port = free_port()
S = os.path.join(d, "sessions")
BIG = 300 * 1024 * 1024


def put(rel, data):
    p = os.path.join(S, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


put("s1/meta.json", '{"session_id": "s1"}')
put("s1/user_audio/000.wav", bytes(range(256)) * 40)
put("s1/user_audio/deep/er/x.bin", b"deep")
put("s1/empty.txt", b"")
put("s1/\u00e9t\u00e9.txt", "utf-8 name")
os.makedirs(os.path.join(S, "s1", "user_frames"))          # empty folder
os.symlink("/etc/passwd", os.path.join(S, "s1", "passwd"))
os.symlink(os.path.join(S, "s1", "user_audio"), os.path.join(S, "s1", "ln"))
os.mkfifo(os.path.join(S, "s1", "fifo"))
os.makedirs(os.path.join(S, "empty"))

# the big one: 300 MiB, each MiB different, written fast
block = os.urandom(1024 * 1024)
big_sha = hashlib.sha256()
os.makedirs(os.path.join(S, "big", "ai_audio"))
with open(os.path.join(S, "big", "ai_audio", "long.wav"), "wb") as f:
    for i in range(BIG // len(block)):
        chunk = i.to_bytes(8, "little") + block[8:]
        big_sha.update(chunk)
        f.write(chunk)
put("big/meta.json", '{"session_id": "big"}')

STALL = int(3 * SLOW)                   # send_timeout, seconds
CONF = sessions_conf("vg_szip", S, port,
                     http="sendfile on; send_timeout %ds;" % STALL)

ngx = Nginx(os.path.join(d, "nginx"), CONF, workers=1)
ngx.start(wait_ports=[port])
worker = ngx.worker_pids()[0]


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def download(sid, out, pause_at=None, sample=None):
    """The archive to a file, read in 1 MiB pieces: (status, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60 * SLOW)
    conn.request("GET", "/api/sessions/%s/download" % sid)
    r = conn.getresponse()
    got = 0
    with open(out, "wb") as f:
        while True:
            chunk = r.read(1024 * 1024)
            if not chunk:
                break
            f.write(chunk)
            got += len(chunk)
            if sample and got % (16 * 1024 * 1024) < len(chunk):
                sample()
            if pause_at is not None and got >= pause_at:
                pause_at = None
                time.sleep(1.0)
                if sample:
                    sample()
    conn.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders())


# -- a small session ----------------------------------------------------------

out = os.path.join(d, "s1.zip")
status, h = download("s1", out)
is_(status, 200, "GET .../download: 200")
is_(h.get("content-type"), "application/zip", "... application/zip")
is_(h.get("content-disposition"), 'attachment; filename="s1.zip"',
    "... an attachment named s1.zip")
ok("content-length" not in h, "... streamed (no Content-Length)")

z = zipfile.ZipFile(out)
names = z.namelist()
is_(names, sorted(["s1/meta.json", "s1/user_audio/000.wav",
                   "s1/user_audio/deep/er/x.bin", "s1/empty.txt",
                   "s1/\u00e9t\u00e9.txt"]),
    "every regular file, nested too, as {id}/{path}; no link, FIFO or "
    "folder")
is_(z.testzip(), None, "zipfile: every CRC checks")
is_(z.read("s1/user_audio/000.wav"), bytes(range(256)) * 40,
    "a file's bytes")
is_(z.read("s1/empty.txt"), b"", "the empty file")
is_(z.read("s1/user_audio/deep/er/x.bin"), b"deep", "a deep file")
info = z.getinfo("s1/meta.json")
ok(info.compress_type == zipfile.ZIP_STORED and info.flag_bits & 0x08,
   "STORED, with a data descriptor (bit 3)")
z.close()

u = subprocess.run(["unzip", "-t", out], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
ok(u.returncode == 0 and "No errors detected" in u.stdout,
   "unzip -t: no errors") or diag(u.stdout)

# DOS time has the years 1980 to 2107: a file's time beyond is the
# nearest end, not a year that wraps (found by fuzz/'s "zip" target)

put("times/old.txt", b"1970")
put("times/late.txt", b"2200")
put("times/now.txt", b"2024")
os.utime(os.path.join(S, "times", "old.txt"), (0, 0))
os.utime(os.path.join(S, "times", "late.txt"), (7258118400, 7258118400))
os.utime(os.path.join(S, "times", "now.txt"), (1717245296, 1717245296))
out = os.path.join(d, "times.zip")
status, h = download("times", out)
z = zipfile.ZipFile(out)
is_([z.getinfo("times/%s.txt" % n).date_time for n in ("old", "late", "now")],
    [(1980, 1, 1, 0, 0, 0), (2107, 12, 31, 23, 59, 58),
     (2024, 6, 1, 12, 34, 56)],
    "DOS times: before 1980 is 1980-01-01, after 2107 is 2107-12-31 "
    "23:59:58, else the time (UTC, even seconds)")
z.close()

out = os.path.join(d, "empty.zip")
status, h = download("empty", out)
z = zipfile.ZipFile(out)
ok(status == 200 and z.namelist() == [], "an empty folder: an empty archive")
z.close()


def is_json_error(r, status, name):
    j = r.json()
    ok(r.status == status and isinstance(j, dict) and "detail" in j
       and r.header("Content-Type") == "application/json",
       "%s: %d in JSON (got %d %r)" % (name, status, r.status, r.body[:80]))


is_json_error(get(port, "/api/sessions/nope/download"), 404,
              "an unknown session")
is_json_error(get(port, "/api/sessions/a.b/download"), 400, "a bad id")
is_json_error(get(port, "/api/sessions/%s/download" % ("x" * 129)), 400,
              "129 characters")

# -- 300 MiB, memory flat ---------------------------------------------------------

base_fds = fds(worker)
rss0 = rss(worker)
peak = [rss0]


def sample():
    peak[0] = max(peak[0], rss(worker))


out = os.path.join(d, "big.zip")
t0 = time.time()
status, h = download("big", out, pause_at=100 * 1024 * 1024, sample=sample)
spent = time.time() - t0
sample()
is_(status, 200, "the 300 MiB session: 200")
diag("300 MiB archive in %.1f s; worker VmRSS %d KiB before, %d KiB at "
     "most" % (spent, rss0 // 1024, peak[0] // 1024))
ok(peak[0] - rss0 < 16 * 1024 * 1024,
   "the worker's VmRSS grows by less than 16 MiB while 300 MiB stream "
   "(+%d KiB), a pause of the client included" % ((peak[0] - rss0) // 1024))

u = subprocess.run(["unzip", "-t", out], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
ok(u.returncode == 0 and "No errors detected" in u.stdout,
   "unzip -t of the 300 MiB archive: no errors") or diag(u.stdout[-500:])

z = zipfile.ZipFile(out)
is_(sorted(z.namelist()), ["big/ai_audio/long.wav", "big/meta.json"],
    "its entries")
sha = hashlib.sha256()
crc = 0
with z.open("big/ai_audio/long.wav") as f:      # zipfile checks the CRC
    while True:
        chunk = f.read(4 * 1024 * 1024)
        if not chunk:
            break
        sha.update(chunk)
        crc = zlib.crc32(chunk, crc)
is_(sha.hexdigest(), big_sha.hexdigest(),
    "zipfile reads the 300 MiB back, byte for byte")
is_(z.getinfo("big/ai_audio/long.wav").CRC, crc, "... with its CRC-32")
z.close()
os.unlink(out)

# -- a client that stops reading past send_timeout ------------------------------

sock = socket.create_connection(("127.0.0.1", port), timeout=60 * SLOW)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
sock.sendall(b"GET /api/sessions/big/download HTTP/1.1\r\n"
             b"Host: x\r\n\r\n")
got = 0
while got < 1024 * 1024:
    chunk = sock.recv(65536)
    if not chunk:
        break
    got += len(chunk)
time.sleep(STALL + 2)                         # the client stalls
while True:
    try:
        chunk = sock.recv(1024 * 1024)
    except OSError:
        break
    if not chunk:
        break
    got += len(chunk)
sock.close()
ok(got < 300 * 1024 * 1024,
   "a client that stalls past send_timeout (%d s) is dropped: %d MiB of "
   "300 arrived" % (STALL, got // (1024 * 1024)))
ok(wait_for(lambda: fds(worker) <= base_fds, timeout=5 * SLOW),
   "and the worker's descriptors are back to %d (%d)"
   % (base_fds, fds(worker)))
ok("client timed out" in ngx.error_log(), "the log says the client timed "
   "out")

# -- a client that goes away half-way --------------------------------------------

for n in range(3):
    s = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
    s.sendall(b"GET /api/sessions/big/download HTTP/1.1\r\nHost: x\r\n\r\n")
    got = 0
    while got < (n + 1) * 8 * 1024 * 1024:
        chunk = s.recv(1024 * 1024)
        if not chunk:
            break
        got += len(chunk)
    s.close()

ok(wait_for(lambda: fds(worker) <= base_fds, timeout=10 * SLOW),
   "after 3 clients that closed half-way: no file descriptor kept "
   "(%d, %d before)" % (fds(worker), base_fds))

out = os.path.join(d, "again.zip")
status, h = download("s1", out)
z = zipfile.ZipFile(out)
ok(status == 200 and z.testzip() is None and len(z.namelist()) == 5,
   "the next download is whole")
z.close()

# -- a file cut short while it is sent: the transfer ends early ----------------

CUT = 64 * 1024 * 1024
with open(os.path.join(S, "big", "ai_audio", "cut.wav"), "wb") as f:
    for i in range(CUT // len(block)):
        f.write(block)
s = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
s.sendall(b"GET /api/sessions/big/download HTTP/1.1\r\nHost: x\r\n"
          b"Connection: close\r\n\r\n")
got = b""
while len(got) < 1024 * 1024:
    chunk = s.recv(1024 * 1024)
    if not chunk:
        break
    got += chunk
with open(os.path.join(S, "big", "ai_audio", "cut.wav"), "r+b") as f:
    f.truncate(CUT // 2)
total = len(got)
tail = got[-16:]
while True:
    chunk = s.recv(1024 * 1024)
    if not chunk:
        break
    total += len(chunk)
    tail = (tail + chunk)[-16:]
s.close()
ok(total < CUT and not tail.endswith(b"0\r\n\r\n"),
   "a file cut to half while it is sent: the transfer ends early, without "
   "the last chunk (%d bytes)" % total)
os.unlink(os.path.join(S, "big", "ai_audio", "cut.wav"))

out = os.path.join(d, "after-cut.zip")
status, h = download("s1", out)
z = zipfile.ZipFile(out)
ok(status == 200 and z.testzip() is None, "the next download is whole")
z.close()

# -- ZIP64: past 4 GiB (VOICEGW_TEST_ZIP64=1: 4 GiB more through the disk) ---

if os.environ.get("VOICEGW_TEST_ZIP64"):
    huge = 4 * 1024 * 1024 * 1024 + 4096
    os.makedirs(os.path.join(S, "z64"))
    with open(os.path.join(S, "z64", "a_huge.bin"), "wb") as f:
        f.truncate(huge)                      # sparse: zeros
        f.seek(huge - 5)
        f.write(b"tail!")
    put("z64/b_after.txt", "after the 4 GiB entry")
    out = os.path.join(d, "z64.zip")
    status, h = download("z64", out)
    u = subprocess.run(["unzip", "-t", out], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    ok(status == 200 and u.returncode == 0
       and "No errors detected" in u.stdout,
       "ZIP64: an entry of 4 GiB + 4 KiB and one after it: unzip -t") \
        or diag(u.stdout[-500:])
    z = zipfile.ZipFile(out)
    i = z.getinfo("z64/a_huge.bin")
    ok(i.file_size == huge and z.read("z64/b_after.txt")
       == b"after the 4 GiB entry"
       and z.getinfo("z64/b_after.txt").header_offset > 0xffffffff,
       "ZIP64: zipfile sees the size and the offset past 4 GiB")
    with z.open("z64/a_huge.bin") as f:       # the CRC is checked at EOF
        f.seek(huge - 5)
        tail = f.read()
    is_(tail, b"tail!", "ZIP64: the entry's last bytes")
    crc = 0
    with z.open("z64/a_huge.bin") as f:
        while True:
            chunk = f.read(16 * 1024 * 1024)
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
    is_(crc, i.CRC, "ZIP64: the CRC of 4 GiB")
    z.close()
    os.unlink(out)
    shutil.rmtree(os.path.join(S, "z64"))
else:
    diag("ZIP64 past 4 GiB skipped (set VOICEGW_TEST_ZIP64=1)")

is_(ngx.worker_pids(), [worker], "the worker is the same (no crash)")
# nginx's sendfile says "sendfile() reported that ... was truncated" at
# [alert] for the file cut short: that one is expected
alerts = [a for a in ngx.alerts() if "was truncated" not in a]
is_(alerts, [], "no other [alert], [crit] or [emerg] in the error log")

ngx.stop()
shutil.rmtree(os.path.join(S, "big"), ignore_errors=True)
sys.exit(tap.done())
