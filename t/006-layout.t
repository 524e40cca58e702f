#!/usr/bin/env python3
#
# t/006-layout.t -- the source tree keeps the shape docs/design.md
# describes: folders by concern, each file saying what it owns, no file
# over 1,000 lines, dependencies that point one way (core <- ws <- pool,
# core <- store <- registry <- api, core <- pool <- api, store <-
# accounting <- pool, api, registry, accounting <- proxy, core <-
# frontend <- api, store <- sessions <- api) with no two files calling each
# other directly or round a loop, the pools' shared structures read in
# pool/ only, SQLite kept out of core/ and pool/, and enumerations as
# tables rather than chains of comparisons.
#
# Calls are read from the object files the build left (nm): what each
# file defines and what it uses.  core/ngx_voicegw_module.c is the root
# that sets the parts up in order: it may use any part, no part may use it.

import glob
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import ROOT, diag, is_, ok, tap  # noqa: E402

SRC = os.path.join(ROOT, "ngx_voicegw_module")
OBJS = os.path.join(ROOT, "build", "objs", "addon")
ROOT_FILE = "core/ngx_voicegw_module"

FOLDERS = ("core", "ws", "store", "pool", "registry", "accounting",
           "proxy", "realtime", "frontend", "sessions", "api")

# what each folder may use, besides itself
USES = {
    "core": set(),
    "ws": {"core"},
    "store": {"core"},
    "pool": {"core", "accounting", "ws"},
    "registry": {"core", "store"},
    "accounting": {"core", "store"},
    "proxy": {"core", "store", "registry", "accounting"},
    # provider WebSocket sessions: the proxy's call, the frame relay
    "realtime": {"core", "store", "registry", "accounting", "proxy", "ws"},
    # the reference audio's header is read by core/'s WAV header parser
    "frontend": {"core"},
    # session recordings: files and the store's index, nothing of the
    # pools (the root hands the pools its hooks)
    "sessions": {"core", "store"},
    "api": {"core", "store", "pool", "registry", "accounting", "frontend",
            "sessions"},
}


def rel(path):
    return os.path.relpath(path, SRC)


sources = sorted(glob.glob(os.path.join(SRC, "**", "*.[ch]"),
                           recursive=True))
ok(len(sources) > 40, "the sources are found (%d files)" % len(sources))

# -- folders, headers, sizes --------------------------------------------------

misplaced = [rel(p) for p in sources if rel(p).split("/")[0] not in FOLDERS
             or rel(p).count("/") != 1]
is_(misplaced, [], "every source file is in one of %s" % ", ".join(FOLDERS))

headless, long_files = [], []

for p in sources:
    with open(p, encoding="utf-8") as f:
        text = f.read()
    name = os.path.basename(p)
    if not re.match(r"\n/\*\n \* %s\n \*\n \* \S" % re.escape(name), text):
        headless.append(rel(p))
    n = text.count("\n")
    if n > 1000:
        long_files.append((rel(p), n))

is_(headless, [], "every file opens with a comment naming it and what it "
    "owns")
is_(long_files, [], "no file over 1,000 lines")

# -- includes: a folder includes its own headers and those it may use ------

HEADERS = {os.path.basename(p): rel(p).split("/")[0] for p in sources
           if p.endswith(".h")}
INCLUDE = re.compile(r'^#include\s+"([^"]+)"', re.M)

bad_includes = []
closure_cache = {}


def includes(path):
    with open(path, encoding="utf-8") as f:
        return INCLUDE.findall(f.read())


for p in sources:
    r = rel(p)
    folder = r.split("/")[0]
    if r.startswith(ROOT_FILE):
        continue
    for h in includes(p):
        owner = HEADERS.get(h)
        if owner is None:
            bad_includes.append((r, h, "unknown header"))
        elif owner != folder and owner not in USES[folder]:
            bad_includes.append((r, h, "a header of %s/" % owner))

is_(bad_includes, [], "files include only headers of their own folder and "
    "of the folders below it")


def closure(header, seen=None):
    """Every header a header pulls in, system ones included."""
    seen = set() if seen is None else seen
    path = os.path.join(SRC, HEADERS[header], header)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for sys_h in re.findall(r'^#include\s+<([^>]+)>', text, re.M):
        seen.add("<%s>" % sys_h)
    for h in INCLUDE.findall(text):
        if h in HEADERS and h not in seen:
            seen.add(h)
            closure(h, seen)
    return seen


sqlite_in = []
for p in sources:
    r = rel(p)
    if r.split("/")[0] not in ("core", "pool") or r.startswith(ROOT_FILE):
        continue
    with open(p, encoding="utf-8") as f:
        text = f.read()
    pulled = set(re.findall(r'^#include\s+<([^>]+)>', text, re.M))
    for h in INCLUDE.findall(text):
        if h in HEADERS:
            pulled |= {x.strip("<>") for x in closure(h)}
    if "sqlite3.h" in pulled:
        sqlite_in.append(r)
is_(sqlite_in, [], "no file of core/ or pool/ sees <sqlite3.h>, directly or "
    "through a header")

# -- the zone's structures stay in pool/ ----------------------------------------

POOL_TYPES = re.compile(r"\bngx_voicegw_(ticket_t|worker_sh_t|pool_sh_t|"
                        r"queue_sh_s|pool_sh_s)\b|\bvp->sh\b")
leaks = []
for p in sources:
    r = rel(p)
    if r.split("/")[0] == "pool" or not p.endswith(".c"):
        continue
    with open(p, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if POOL_TYPES.search(line) and "zone->sh->" not in line:
                leaks.append("%s:%d: %s" % (r, i, line.strip()))
is_(leaks, [], "no file outside pool/ reads tickets, workers or the pools' "
    "part of the zone")

# -- enumerations are tables ------------------------------------------------------

CHAIN = re.compile(r"\.len == [1-9]\d*\s*(&&|$)")
chains = []
for p in sources:
    with open(p, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if CHAIN.search(line):
                chains.append("%s:%d: %s" % (rel(p), i, line.strip()))
is_(chains, [], "no name compared by length and bytes: enumerations are "
    "ngx_conf_enum_t tables")

# -- calls between files ----------------------------------------------------------

objects = sorted(glob.glob(os.path.join(OBJS, "*", "*.o")))
ok(len(objects) == len([p for p in sources if p.endswith(".c")]),
   "an object file for every source file (%d)" % len(objects))

defined, used = {}, {}
for o in objects:
    name = "%s/%s" % (os.path.basename(os.path.dirname(o)),
                      os.path.basename(o)[:-2])
    out = subprocess.run(["nm", o], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    used[name] = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "T":
            defined[parts[2]] = name
        elif len(parts) == 2 and parts[0] == "U":
            used[name].add(parts[1])

edges = {}
for f, syms in used.items():
    edges[f] = {defined[s] for s in syms if s in defined and defined[s] != f}

calls_root = sorted(f for f, to in edges.items() if ROOT_FILE in to)
is_(calls_root, [], "no file calls into %s.c (the root)" % ROOT_FILE)

wrong_way = []
for f, to in sorted(edges.items()):
    if f == ROOT_FILE:
        continue
    folder = f.split("/")[0]
    for t in sorted(to):
        tf = t.split("/")[0]
        if tf != folder and tf not in USES[folder]:
            wrong_way.append("%s -> %s" % (f, t))
is_(wrong_way, [], "calls point one way: core <- store <- registry <- api, "
    "core <- pool <- api")

# a loop among files: depth-first search for a back edge

cycles = []
state = {}


def visit(f, path):
    state[f] = 1
    for t in sorted(edges.get(f, ())):
        if state.get(t) == 1:
            cycles.append(" -> ".join(path[path.index(t):] + [t]))
        elif t not in state:
            visit(t, path + [t])
    state[f] = 2


for f in sorted(edges):
    if f not in state:
        visit(f, [f])
is_(cycles, [], "no two files call each other, directly or round a loop")

if cycles or wrong_way:
    diag("the calls: %r" % {f: sorted(t) for f, t in edges.items() if t})

sys.exit(tap.done())
