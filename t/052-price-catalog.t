#!/usr/bin/env python3
#
# t/052-price-catalog.t -- the price catalogue (issue 9, point 5):
# "voicegw_price_catalog FILE;".
#   - the shipped conf/voicegw-prices.tsv loads (the default configuration
#     names it), and every row has a known provider type, a price, a
#     source and a date;
#   - "nginx -t" refuses a bad row with the file, the line and the reason:
#     column count, number, date, source, regex, provider type, duplicate.
# Ports 19400-19499 only; runtime files in var/052-price-catalog.

import datetime
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import ROOT, Nginx, diag, is_, like, ok, tap  # noqa: E402

PORT = 19400
SHIPPED = os.path.join(ROOT, "conf", "voicegw-prices.tsv")
TYPES = {"deepgram", "openai", "anthropic", "groq", "gemini", "cartesia",
         "elevenlabs", "assemblyai"}

d = os.path.join(ROOT, "var", "052-price-catalog")
shutil.rmtree(d, ignore_errors=True)
os.makedirs(d)
prefix = os.path.join(d, "nginx")
conf_dir = os.path.join(prefix, "conf")


# -- the shipped file ----------------------------------------------------------

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

# -- nginx -t: the file, the line, the reason -----------------------------------

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

rc = tap.done()
if rc == 0:
    shutil.rmtree(d, ignore_errors=True)
sys.exit(rc)
