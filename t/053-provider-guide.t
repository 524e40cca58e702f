#!/usr/bin/env python3
#
# t/053-provider-guide.t -- the guide "Put your providers behind the
# gateway" (docs/providers.md) does what it says: its nginx configuration
# (adapted: the store, the secret and the port of this test, each
# provider's base_url pointed at our fake provider, no resolver) starts,
# and every curl example of "Each provider" runs as written (through
# bash, from a folder with a hello.wav) and answers 2xx; every call is on
# the books with its provider, a modality and units, and none is
# refused.

import os
import re
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, FakeProvider, Nginx, free_port, is_, ok,  # noqa
                    request, tap, wait_for, workdir, secret_key,
                    doc_blocks, doc_commands, doc_run)

d = workdir("053-provider-guide")
port = free_port()
KEY = "sk-GUIDE-3b8e1f0a7c2d4e59"
fake = FakeProvider(d, KEY)

with open(os.path.join(ROOT, "docs", "providers.md")) as f:
    doc = f.read()


conf = next(b for lang, b in doc_blocks(doc) if lang == "nginx")
providers = re.findall(r"voicegw_provider\s+(\S+)\s+key_env=(\w+);", conf)
ok(len(providers) >= 8, "the guide configures %d providers" % len(providers))

conf = re.sub(r"voicegw_store\s+\S+;", "voicegw_store data/vg.db;", conf)
conf = re.sub(r"voicegw_secret\s+\S+;", "voicegw_secret %s;"
              % secret_key(d), conf)
conf = re.sub(r"voicegw_price_catalog\s+\S+;", "voicegw_price_catalog %s;"
              % os.path.join(ROOT, "conf", "voicegw-prices.tsv"), conf)
conf = re.sub(r"listen\s+127\.0\.0\.1:8080;", "listen 127.0.0.1:%d;" % port,
              conf)
conf = re.sub(r"\n\s*resolver [^;]*;[^\n]*", "", conf)
conf = re.sub(r"(voicegw_provider\s+\S+\s+key_env=\w+);",
              r"\1 base_url=%s;" % fake.url, conf)
# the fake is on this machine: loopback must be allowed
conf = re.sub(r"(voicegw_zone\s[^;]*;)",
              r"\1\n    voicegw_provider_destinations public loopback;", conf)
ok(str(port) in conf and fake.url in conf and "loopback" in conf,
   "the documented configuration was adapted to this test")

for _, var in providers:
    os.environ[var] = KEY
ngx = Nginx(os.path.join(d, "nginx"), conf, workers=2).start(
    wait_ports=[port])

# hello.wav: one second of 16 kHz mono silence
data = bytes(32000)
with open(os.path.join(d, "hello.wav"), "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2,
                                    16)
            + b"data" + struct.pack("<I", len(data)) + data)

section = re.search(r"^## Each provider.*?(?=^## )", doc, re.M | re.S)
ok(section is not None, "the guide has \"Each provider\"")
examples = []
for m in re.finditer(r"^### (\S+)\n(.*?)(?=^### |\Z)", section.group(0),
                     re.M | re.S):
    for lang, body in doc_blocks(m.group(2)):
        if lang != "sh":
            continue
        for cmd in doc_commands(body):
            examples.append((m.group(1), cmd))
types = sorted({t for t, _ in examples})
is_(types, sorted(["openai", "groq", "anthropic", "gemini", "deepgram",
                   "elevenlabs", "cartesia", "assemblyai"]),
    "a curl example for each cloud provider type")

out = os.path.join(d, "answer")
for ptype, cmd in examples:
    rc, status, _, err = doc_run(cmd, port, out, cwd=d)
    short = cmd.split("/v1/proxy/")[1].split()[0][:60]
    ok(rc == 0 and status.startswith("2"),
       "%s: %s answers %s %s" % (ptype, short, status, err[:200]))

n = len(examples)


def logs():
    r = request("GET", port, "/v1/logs?limit=1000")
    return r.json() if r.status == 200 else []


ok(wait_for(lambda: len(logs()) >= n, timeout=10),
   "the %d calls are on the books" % n)
recs = list(reversed(logs()))
is_([r["provider"] for r in recs], [t for t, _ in examples],
    "each with its provider")
is_([r["status"] for r in recs], ["success"] * n, "each a success")
is_([r["project"] for r in recs], ["tonys-pizza"] * n,
    "each in the project of its X-VoiceGW-Project")
no_units = [r["provider"] for r in recs
            if r["input_units"] <= 0 and r["output_units"] <= 0]
is_(no_units, ["assemblyai"],
    "each with units, but the AssemblyAI submit (its duration comes with "
    "the transcript)")
is_(sorted({r["modality"] for r in recs}), ["llm", "stt", "tts"],
    "speech to text, LLM and text to speech")
seen = fake.seen()
ok(len(seen) == n and all(s.get("key_header") for s in seen),
   "every call reached the provider with the key in its header")

ok(ngx.stop(), "nginx stopped")
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")

sys.exit(tap.done())
