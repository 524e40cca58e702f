#!/usr/bin/env python3
#
# bench/disk_stall_probe.py -- does this machine pause all its processes
# while one writes to disk?  A control for bench/records.py's event-loop
# lateness: a loop that sleeps 10 ms measures how late it wakes up, first
# with the machine idle, then while another process commits SQLite WAL
# transactions (as the store does).  No nginx involved.
#
#   python3 bench/disk_stall_probe.py idle
#   python3 bench/disk_stall_probe.py write

import os
import sqlite3
import subprocess
import sys
import tempfile
import time

DB = os.path.join(tempfile.gettempdir(), "voicegw-disk-stall-probe.db")


def writer(seconds):
    db = sqlite3.connect(DB, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS t (a, b)")
    end = time.time() + seconds
    while time.time() < end:
        db.execute("BEGIN")
        db.executemany("INSERT INTO t VALUES (?, ?)",
                       [(i, "x" * 100) for i in range(2000)])
        db.execute("COMMIT")
        time.sleep(0.01)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "idle"
    if mode == "bg":
        writer(15)
        return
    bg = None
    if mode == "write":
        bg = subprocess.Popen([sys.executable, __file__, "bg"])
    late = []
    end = time.time() + 14
    while time.time() < end:
        t = time.monotonic()
        time.sleep(0.01)
        late.append((time.monotonic() - t - 0.01) * 1000)
    if bg:
        bg.wait()
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(DB + suffix)
        except OSError:
            pass
    late.sort()
    print("%s: a 10 ms sleep wakes up late by p99 %.3f ms, at worst %.3f ms"
          % (mode, late[len(late) * 99 // 100], late[-1]))


if __name__ == "__main__":
    main()
