#!/usr/bin/env python3
#
# t/052-price-catalog.t -- the price catalogue (issue 9, point 5):
# "voicegw_price_catalog FILE;" in front of our fake provider
# (t/support/fake_provider.py), two nginx processes.
#   - the shipped conf/voicegw-prices.tsv loads (the default configuration
#     names it), and every row has a known provider type, a price, a
#     source and a date;
#   - "nginx -t" refuses a bad row with the file, the line and the reason:
#     column count, number, date, source, regex, provider type, duplicate;
#   - a call is priced by its model's own prices (nginx.conf, the API)
#     first, else by the catalogue's row of the provider type: the exact
#     id before any family, families in file order; cache reads at their
#     own price; units x price checked against /v1/logs' cost_usd;
#   - a model priced nowhere costs 0 and carries the unpriced flag (in the
#     store's requests.flags: /v1/logs does not show flags);
#   - a reload reads the file again; a reload with a bad file is refused
#     and the running workers keep their prices.
# Ports 19400-19499 only; runtime files in var/052-price-catalog.

import datetime
import os
import re
import shutil
import signal
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, FakeProvider, Nginx, diag, is_, like,  # noqa
                    ok, request, tap, wait_for)

PORT, FAKE_PORT = 19400, 19401
KEY = "sk-CATALOG-3f0a9c1d7e2b4a65"
SHIPPED = os.path.join(ROOT, "conf", "voicegw-prices.tsv")
TYPES = {"deepgram", "openai", "anthropic", "groq", "gemini", "cartesia",
         "elevenlabs", "assemblyai"}

d = os.path.join(ROOT, "var", "052-price-catalog")
shutil.rmtree(d, ignore_errors=True)
os.makedirs(d)
prefix = os.path.join(d, "nginx")
conf_dir = os.path.join(prefix, "conf")


def close(a, b):
    return a is not None and abs(a - b) <= 1e-12 + 1e-9 * abs(b)


# -- the shipped file ---------------------------------------------------------

rows, bad = [], []
with open(SHIPPED) as f:
    for n, line in enumerate(f, 1):
        line = line.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        c = line.split("\t")
        rows.append(c)
        why = None
        if len(c) != 9:
            why = "%d columns" % len(c)
        elif c[0] not in TYPES:
            why = "provider type %r" % c[0]
        elif not any(x.strip() for x in c[2:7]):
            why = "no price"
        elif not c[7].strip():
            why = "no source"
        else:
            try:
                datetime.date.fromisoformat(c[8])
            except ValueError:
                why = "date %r" % c[8]
        if why:
            bad.append("line %d: %s" % (n, why))
ok(len(rows) >= 25, "the shipped catalogue has %d rows" % len(rows))
is_(bad, [], "every row: 9 columns, a known provider type, a price, a "
    "source and a date")
is_(sorted({c[0] for c in rows if len(c) == 9}), sorted(TYPES),
    "every provider type has rows")
ok(any(c[1].startswith("~") for c in rows), "families (~regex) are in it")

with open(os.path.join(ROOT, "conf", "voicegw.conf")) as f:
    like(f.read(), r"\n\s*voicegw_price_catalog\s+voicegw-prices\.tsv;",
         "conf/voicegw.conf loads it (relative to conf/)")

# -- nginx -t: the file, the line, the reason ---------------------------------

HEAD = "# a comment\n\n"
GOOD = "openai\tgpt-ok\t\t0.1\t0.2\t\t\tthe vendor page\t2025-07-04\n"


def conf(catalog_lines):
    return """
    voicegw_price_catalog %s;
    server { listen 127.0.0.1:%d; location / { return 204; } }
""" % (catalog_lines, PORT)


ngx_t = Nginx(prefix, conf("bad.tsv"), workers=1)
nginx_conf = os.path.join(conf_dir, "nginx.conf")
bad_tsv = os.path.join(conf_dir, "bad.tsv")
directive_line = open(nginx_conf).read().split("\n").index(
    "    voicegw_price_catalog bad.tsv;") + 1

for row, reason, what in (
        ("openai\tgpt-x\t\t0.1\t0.2\t\t\tsrc\n",
         r"8 columns instead of 9: provider, model, per_minute", "8 columns"),
        ("openai\tgpt-x\t\t0.1\t0.2\t\t\tsrc\t2025-07-04\textra\n",
         r"10 columns instead of 9", "10 columns"),
        ("openai gpt-x  0.1 0.2   src 2025-07-04\n",
         r"1 columns instead of 9: .* separated by tabs", "spaces, not tabs"),
        ("openai\tgpt-x\t\t0.1x\t0.2\t\t\tsrc\t2025-07-04\n",
         r'bad per_1k_input_tokens "0\.1x": a number', "a bad number"),
        ("openai\tgpt-x\t\t0.1\t-0.2\t\t\tsrc\t2025-07-04\n",
         r'bad per_1k_output_tokens "-0\.2"', "a negative price"),
        ("openai\tgpt-x\t\t0.1\t0.2\tinf\t\tsrc\t2025-07-04\n",
         r'bad per_1k_cached_tokens "inf"', "inf"),
        ("openai\tgpt-x\tnan\t\t\t\t\tsrc\t2025-07-04\n",
         r'bad per_minute "nan"', "nan"),
        ("openai\tgpt-x\t\t\t\t\t1e-5x\tsrc\t2025-07-04\n",
         r'bad per_character "1e-5x"', "a bad per_character"),
        ("openai\tgpt-x\t\t0.1\t0.2\t\t\tsrc\t2025-13-01\n",
         r'bad date "2025-13-01": .*YYYY-MM-DD', "month 13"),
        ("openai\tgpt-x\t\t0.1\t0.2\t\t\tsrc\t2025-02-29\n",
         r'bad date "2025-02-29"', "29 February of a common year"),
        ("openai\tgpt-x\t\t0.1\t0.2\t\t\tsrc\t2025/07/04\n",
         r'bad date "2025/07/04"', "slashes"),
        ("openai\tgpt-x\t\t0.1\t0.2\t\t\tsrc\t\n",
         r'bad date ""', "no date"),
        ("openai\tgpt-x\t\t0.1\t0.2\t\t\t  \t2025-07-04\n",
         r"no source: say where the prices come from", "no source"),
        ("openai\t~^gpt-(4\t\t0.1\t0.2\t\t\tsrc\t2025-07-04\n",
         r"bad regular expression: pcre2?_compile\(\) failed: .*\^gpt-\(4",
         "a regex that does not compile"),
        ("openai\t~\t\t0.1\t0.2\t\t\tsrc\t2025-07-04\n",
         r'"~" without a regular expression', "an empty regex"),
        ("opneai\tgpt-x\t\t0.1\t0.2\t\t\tsrc\t2025-07-04\n",
         r'unknown provider type "opneai": use deepgram, openai', "a typo in "
         "the provider type"),
        ("openai\tgpt x\t\t0.1\t0.2\t\t\tsrc\t2025-07-04\n",
         r'bad model "gpt x"', "a space in a model id"),
        ("openai\tgpt-x\t\t\t\t\t\tsrc\t2025-07-04\n",
         r"no price: a row needs at least one", "a row without a price"),
        ("openai\tgpt-ok\t\t0.3\t0.4\t\t\tsrc\t2025-07-04\n",
         r'duplicate model "gpt-ok" of openai, first at line 3',
         "a duplicate id")):
    with open(bad_tsv, "w") as f:
        f.write(HEAD + GOOD + row)
    rc, out = ngx_t.test_config()
    ok(rc != 0, "nginx -t refuses %s" % what)
    like(out, r"\[emerg\] .*voicegw_price_catalog: %s:4: %s.* in %s:%d\n"
         % (re.escape(bad_tsv), reason, re.escape(nginx_conf),
            directive_line),
         "  naming %s, line 4, the reason, and the directive" % "bad.tsv")

with open(bad_tsv, "w") as f:
    f.write(HEAD + GOOD + "\r\n"
            + "  # an indented comment\n"
            + " openai \t gpt-spaced \t\t 0.1 \t\t\t\t a source \t 2025-07-04 "
            + "\r\n"
            + "openai\t~^gpt-(4|5)$\t\t0.1\t0.2\t\t\tsrc\t2024-02-29")
rc, out = ngx_t.test_config()
ok(rc == 0, "CRLF, indented comments, spaces around cells, no final "
   "newline and 29 February of a leap year are fine") or diag(out)

os.unlink(bad_tsv)
rc, out = ngx_t.test_config()
like(out, r'voicegw_price_catalog: open\(\) "%s" failed' % re.escape(bad_tsv),
     "a missing file is refused, by name")

ngx_t.write_conf(conf(SHIPPED) + "    voicegw_price_catalog off;\n")
rc, out = ngx_t.test_config()
like(out, r'"voicegw_price_catalog" directive is duplicate',
     "the directive is allowed once")

ngx_t.write_conf(conf("off"))
rc, out = ngx_t.test_config()
is_(rc, 0, "voicegw_price_catalog off: no catalogue")

ngx_t.write_conf(conf(SHIPPED))
rc, out = ngx_t.test_config()
is_((rc, out.count("[emerg]")), (0, 0),
    "nginx -t loads the shipped catalogue (every regex compiles)")

# -- pricing ------------------------------------------------------------------

fake = FakeProvider(d, KEY, port=FAKE_PORT)

# cells separated by " | " here, by tabs in the file
CATALOG = """\
# provider | model | minute | in | out | cached | char | source | date
openai | gpt-exact |  | 0.5 | 0.25 |  |  | exact | 2025-01-01
openai | ~^gpt- |  | 0.01 | 0.02 | 0.001 |  | family | 2025-01-02
openai | ~^gpt-fam |  | 7 | 7 |  |  | a later family | 2025-01-03
openai | conf-model |  | 9 | 9 |  |  | shadowed | 2025-01-04
openai | conf-minute |  | 0.002 | 0.004 |  |  | fallback | 2025-01-05
openai | api-model |  | 9 | 9 |  |  | shadowed | 2025-01-06
openai | api-bare |  | 0.003 | 0.006 |  |  | fallback | 2025-01-07
openai | only-minute | 0.006 |  |  |  |  | another unit | 2025-01-08
anthropic | ~^claude- |  | 0.003 | 0.015 | 0.0003 |  | anthropic | 2025-01-09
deepgram | nova-x | 0.01 |  |  |  |  | stt | 2025-01-10
deepgram | ~^aura-2- |  |  |  |  | 0.00003 | tts | 2025-01-11
""".replace(" | ", "\t")
catalog = os.path.join(conf_dir, "prices.tsv")
with open(catalog, "w") as f:
    f.write(CATALOG)

CONF = """
    voicegw_zone  vg052 4m;
    voicegw_provider_destinations public loopback;
    voicegw_store data/vg.db flush=100ms;
    voicegw_price_catalog prices.tsv;
    voicegw_provider oai type=openai key=%(key)s base_url=%(url)s;
    voicegw_provider ant type=anthropic key=%(key)s base_url=%(url)s;
    voicegw_provider dg type=deepgram key=%(key)s base_url=%(url)s;
    voicegw_model oai/conf-model modality=llm price_per_1k_input_tokens=1
                  price_per_1k_output_tokens=2;
    voicegw_model oai/conf-minute modality=llm price_per_minute=1;
    server {
        listen 127.0.0.1:%(port)d;
        location /v1/proxy/ { voicegw_proxy; }
        location / { voicegw_api; }
    }
""" % {"port": PORT, "key": KEY, "url": fake.url}

ngx = Nginx(prefix, CONF, workers=2).start(wait_ports=[PORT])
ok(wait_for(lambda: ngx.error_log().count("ready, schema version") >= 2),
   "both worker processes opened the store")


def logs():
    r = request("GET", PORT, "/v1/logs?limit=1000")
    return r.json() if r.status == 200 else []


booked_n = 0


def call(provider, model, path="/v1/chat/completions", body=None,
         headers=None, query=""):
    """One call through the proxy; its record once it is on the books."""
    global booked_n
    h = {"Content-Type": "application/json"}
    if model is not None:
        h["X-VoiceGW-Model"] = model
    h.update(headers or {})
    b = body if body is not None else {
        "model": model or "mystery-2",
        "messages": [{"role": "user", "content": "hi"}]}
    r = request("POST", PORT, "/v1/proxy/%s%s%s" % (provider, path, query),
                b, h)
    booked_n += 1
    n = booked_n
    if not wait_for(lambda: len(logs()) >= n, timeout=5):
        ok(False, "call %d (%s %s, %d) is on the books" % (n, provider, model,
                                                          r.status))
        return {}
    rec = logs()[0]
    rec["_http"] = r.status
    return rec


db = os.path.join(prefix, "data", "vg.db")


def flags(rec):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    try:
        row = c.execute("SELECT flags FROM requests WHERE id = ?",
                        (rec.get("id"),)).fetchone()
    finally:
        c.close()
    return row[0] if row else None


UNPRICED = 0x0004


def priced(rec, expected, what):
    ok(rec.get("_http") == 200 and close(rec.get("cost_usd"), expected)
       and not flags(rec) & UNPRICED,
       "%s: cost %r = %r, not flagged unpriced" % (what, rec.get("cost_usd"),
                                                   expected))


def unpriced(rec, what):
    is_((rec.get("_http"), rec.get("cost_usd"), (flags(rec) or 0) & UNPRICED),
        (200, 0.0, UNPRICED), "%s: cost 0, flagged unpriced" % what)


# LLM: 13 prompt tokens, 3 completion tokens (the fake's defaults)

rec = call("oai", "gpt-exact")
is_((rec.get("model_id"), rec.get("input_units"), rec.get("output_units")),
    ("oai/gpt-exact", 13, 3), "units: 13 input, 3 output tokens")
priced(rec, 13 / 1000 * 0.5 + 3 / 1000 * 0.25,
       "an exact id is priced by its row, though the family ~^gpt- matches")

rec = call("oai", "gpt-fam-1")
priced(rec, 13 / 1000 * 0.01 + 3 / 1000 * 0.02,
       "a family member is priced by the first family that matches "
       "(~^gpt-, not the later ~^gpt-fam)")

rec = call("oai", "gpt-fam-1", headers={"X-Fake-Cached-Tokens": "5"})
is_(rec.get("input_units"), 13, "OpenAI: cached tokens are part of the 13")
priced(rec, 8 / 1000 * 0.01 + 5 / 1000 * 0.001 + 3 / 1000 * 0.02,
       "5 cached tokens at the cached price, 8 at the input price")

rec = call("oai", "gpt-exact", headers={"X-Fake-Cached-Tokens": "5"})
priced(rec, 13 / 1000 * 0.5 + 3 / 1000 * 0.25,
       "a row without a cached price charges cached tokens as input")

rec = call("ant", "claude-x", path="/v1/messages",
           body={"model": "claude-x", "max_tokens": 9,
                 "messages": [{"role": "user", "content": "hi"}]},
           headers={"X-Fake-Cached-Tokens": "4",
                    "X-Fake-Cache-Write-Tokens": "2"})
is_((rec.get("input_units"), rec.get("output_units")), (19, 3),
    "Anthropic: input 13 + cache reads 4 + cache writes 2")
priced(rec, 15 / 1000 * 0.003 + 4 / 1000 * 0.0003 + 3 / 1000 * 0.015,
       "Anthropic: cache reads at the cached price")

rec = call("ant", "gpt-exact", path="/v1/messages",
           body={"model": "gpt-exact", "max_tokens": 9,
                 "messages": [{"role": "user", "content": "hi"}]})
unpriced(rec, "rows of another provider type do not price a call")

# registered prices first

r = request("POST", PORT, "/v1/models",
            {"modality": "llm", "provider_id": "oai",
             "model_name": "api-model", "price_per_1k_input_tokens": 3,
             "price_per_1k_output_tokens": 4})
is_(r.status, 200, "a model with prices is created through the API")
r = request("POST", PORT, "/v1/models",
            {"modality": "llm", "provider_id": "oai",
             "model_name": "api-bare"})
is_(r.status, 200, "and one without prices")

for model, p_in, p_out, what in (
        ("conf-model", 1, 2, "a model of nginx.conf with prices beats the "
         "catalogue"),
        ("conf-minute", 0.002, 0.004, "a model of nginx.conf without token "
         "prices: the catalogue's"),
        ("api-model", 3, 4, "a model of the API with prices beats the "
         "catalogue"),
        ("api-bare", 0.003, 0.006, "a model of the API without prices: the "
         "catalogue's")):
    priced(call("oai", model), 13 / 1000 * p_in + 3 / 1000 * p_out, what)

# priced nowhere

rec = call("oai", "mystery-1")
unpriced(rec, "a model in no row")

rec = call("oai", "only-minute")
unpriced(rec, "a row without a price for the call's unit (LLM tokens)")

rec = call("oai", None)
unpriced(rec, "a call without X-VoiceGW-Model (%s)" % rec.get("model_id"))

# STT: minutes; TTS: characters

rec = call("dg", None, path="/v1/listen", query="?model=nova-x",
           body=b"\x00" * 64, headers={"Content-Type": "audio/raw",
                                       "X-Fake-Duration": "30"})
is_((rec.get("model_id"), rec.get("modality"), rec.get("input_units")),
    ("dg/nova-x", "stt", 0.5), "STT: 30 s of audio are 0.5 minutes")
priced(rec, 0.5 * 0.01, "STT: per_minute of the exact row")

rec = call("dg", None, path="/v1/speak", query="?model=aura-2-thalia-en",
           body={"text": "hello world"})
is_((rec.get("modality"), rec.get("input_units")), ("tts", 11),
    "TTS: 11 characters (dg-char-count)")
priced(rec, 11 * 0.00003, "TTS: per_character of the family ~^aura-2-")

# -- reloads ------------------------------------------------------------------

with open(catalog, "w") as f:
    f.write(CATALOG.replace("openai\tgpt-exact\t\t0.5\t0.25",
                            "openai\tgpt-exact\t\t0.7\t0.35"))
ok(ngx.reload(), "reload with a changed catalogue")
rec = call("oai", "gpt-exact")
priced(rec, 13 / 1000 * 0.7 + 3 / 1000 * 0.35,
       "after the reload, the new prices")

with open(catalog, "w") as f:
    f.write(CATALOG + "openai\tgpt-bad\t\t1\t1\t\t\tsrc\t2025-00-10\n")
workers = ngx.worker_pids()
os.kill(ngx.master_pid(), signal.SIGHUP)
ok(wait_for(lambda: re.search(r"\[emerg\] .*voicegw_price_catalog: .*"
                              r"prices\.tsv:%d: bad date \"2025-00-10\""
                              % (CATALOG.count("\n") + 1), ngx.error_log())),
   "a reload with a bad row is refused, with the file, line and reason")
rec = call("oai", "gpt-exact")
ok(ngx.worker_pids() == workers, "the same worker processes serve")
priced(rec, 13 / 1000 * 0.7 + 3 / 1000 * 0.35, "with the prices they had")

# -- the shipped catalogue, in use --------------------------------------------

ok(ngx.reload(CONF.replace("voicegw_price_catalog prices.tsv;",
                           "voicegw_price_catalog %s;" % SHIPPED)),
   "reload with the shipped catalogue")
rec = call("oai", "gpt-4o-mini", headers={"X-Fake-Cached-Tokens": "5"})
priced(rec, (8 * 0.00015 + 5 * 0.000075 + 3 * 0.0006) / 1000,
       "shipped: gpt-4o-mini at 0.15 / 0.075 cached / 0.60 per million")
rec = call("dg", None, path="/v1/listen", query="?model=nova-3",
           body=b"\x00" * 64, headers={"Content-Type": "audio/raw",
                                       "X-Fake-Duration": "90"})
priced(rec, 1.5 * 0.0043, "shipped: Deepgram nova-3 at 0.0043 a minute")
rec = call("dg", None, path="/v1/speak", query="?model=aura-asteria-en",
           body={"text": "hello"})
priced(rec, 5 * 0.000015, "shipped: Aura-1 voices at 0.015 per 1k characters")

ok(ngx.stop(), "nginx stopped")
is_([l for l in ngx.alerts() if "2025-00-10" not in l], [],
    "no [alert], [crit] or [emerg] in the error log but the refused reload")
ok(not any("CATALOG-3f0a" in l for l in ngx.error_log().splitlines()),
   "no key in the error log")

rc = tap.done()
if rc == 0:
    shutil.rmtree(d, ignore_errors=True)
sys.exit(rc)
