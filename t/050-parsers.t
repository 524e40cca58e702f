#!/usr/bin/env python3
#
# t/050-parsers.t -- the stream parsers outside nginx (proxy/, and core/
# for the WAV header and multipart scanners): the usage parser over
# realistic answers of every dialect (JSON and SSE), the request scanner,
# the WAV header parser, the multipart scanner, and the filter that drops the usage-only event of a
# chat stream (between a simulated upstream and writer).  Each body is fed
# whole, one byte at a time, split in two at every position and in random
# pieces: every way must give the same, right answer.  The same runs again under AddressSanitizer and
# UBSan, with requests that end mid-stream (nothing may leak).  The time
# of a content event without usage is printed, not asserted.
#
# t/support/parser_driver.c is built here, into var/, with the parsers'
# sources and yajl only (no nginx binary): the nginx headers come from
# Debian's nginx-dev and build/objs/ngx_auto_config.h from ./build.sh.

import json
import os
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, SANITIZE, build_c, diag, is_, ok,  # noqa: E402
                    tap)

NGX_SRC = os.environ.get("NGX_SRC", "/usr/share/nginx/src/src")
PROXY = os.path.join(ROOT, "ngx_voicegw_module", "proxy")
CORE = os.path.join(ROOT, "ngx_voicegw_module", "core")
VAR = os.path.join(ROOT, "var")
D = os.path.join(VAR, "050-parsers")

SOURCES = [os.path.join(ROOT, "t", "support", "parser_driver.c"),
           os.path.join(ROOT, "t", "support", "ngx_standin.c"),
           os.path.join(ROOT, "t", "support", "parser_ops.c")] + [
    os.path.join(PROXY, "ngx_voicegw_%s.c" % n)
    for n in ("jsonfeed", "jsonpath", "jsonmem", "usage", "reqscan", "sse_strip")] + [
    os.path.join(CORE, "ngx_voicegw_%s.c" % n) for n in ("wav", "multipart")]
INCLUDES = [os.path.join(ROOT, "build", "objs"),
            os.path.join(NGX_SRC, "core"), os.path.join(NGX_SRC, "event"),
            os.path.join(NGX_SRC, "os", "unix"), PROXY, CORE,
            os.path.join(ROOT, "t", "support")]
NEEDED = [os.path.join(ROOT, "build", "objs", "ngx_auto_config.h"),
          os.path.join(NGX_SRC, "core", "ngx_core.h"),
          "/usr/include/yajl/yajl_parse.h"]


def skip_all(why):
    print("1..0 # SKIP %s" % why)
    sys.exit(0)


if not shutil.which("cc"):
    skip_all("no C compiler (cc)")
for h in NEEDED:
    if not os.path.exists(h):
        skip_all("%s is missing" % h)

os.makedirs(D, exist_ok=True)


def build(out, extra):
    return build_c(out, SOURCES, INCLUDES, ["-lyajl", "-lcrypto"], extra)


DRIVER = os.path.join(VAR, "parser_driver")
built, log = build(DRIVER, [])
if not ok(built, "the parser driver builds with -Wall -Werror"):
    diag(log)
    sys.exit(tap.done())

ASAN = os.path.join(VAR, "parser_driver_asan")
asan_built, asan_log = build(ASAN, SANITIZE)
if not asan_built:
    diag("no AddressSanitizer build here, its runs are skipped:")
    diag(asan_log[-2000:])
    ASAN = None


def fixture(name, data):
    path = os.path.join(D, name)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return path


def drive(binary, args, env=None):
    r = subprocess.run([binary] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=600, env=env)
    return r.returncode, r.stdout.decode("utf-8", "replace").strip(), \
        r.stderr.decode("utf-8", "replace")


def same(got, exp):
    if isinstance(exp, dict):
        return isinstance(got, dict) and set(got) == set(exp) and \
            all(same(got[k], exp[k]) for k in exp)
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return isinstance(got, (int, float)) and \
            abs(got - exp) <= 1e-9 * max(1.0, abs(exp))
    return got == exp


def results(binary, args, runs, env=None):
    """The policies in one process: a line (parsed) per policy."""
    rc, out, err = drive(binary, args + ["+".join(runs)], env)
    lines = out.splitlines()
    got = []
    for i in range(len(runs)):
        try:
            got.append(json.loads(lines[i]))
        except (IndexError, ValueError):
            got.append(lines[i] if i < len(lines) else None)
    return rc, got, err


def check(args, expected, name, big=False):
    """Every policy gives `expected`; then the sanitizer runs."""
    size = os.path.getsize(args[-1])
    stride = "%d:%d" % (max(1, size // 500), 256 if big else 4096)
    runs = ["whole", "bytes", "all2:" + stride,
            "random:%d:%d" % (len(name), 8 if big else 40)]
    rc, got, err = results(DRIVER, args, runs)
    for pol, g in zip(runs, got):
        if not ok(rc == 0 and not err and same(g, expected),
                  "%s, %s" % (name, pol.split(":")[0])):
            diag("rc %d, stderr %r" % (rc, err[-500:]))
            diag("         got: %s" % json.dumps(g)[:2000])
            diag("    expected: %s" % json.dumps(expected))
    if ASAN is None:
        return
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1",
               UBSAN_OPTIONS="print_stacktrace=1")
    runs = ["bytes", "all2:%d:512" % max(1, size // 200),
            "random:%d:%d" % (len(name) + 1, 3 if big else 10)]
    cuts = sorted({1, size // 3, size // 2, size - 1})
    rc, got, err = results(ASAN, args, runs + ["abort:%d" % n for n in cuts],
                           env)
    wrong = [(pol, g) for pol, g in zip(runs, got) if not same(g, expected)]
    if not ok(rc == 0 and not err and not wrong,
              "%s, under ASan/UBSan, and cut short at %s: no fault, no leak"
              % (name, cuts)):
        diag("rc %d, stderr:\n%s" % (rc, err[-3000:]))
        for w in wrong:
            diag("%s: %s" % (w[0], json.dumps(w[1])[:500]))


def units(input=-1, output=-1, cached=-1, cache_write=-1, seconds=-1,
          channels=-1, chunks=0):
    return {"input_tokens": input, "output_tokens": output,
            "cached_tokens": cached, "cache_write_tokens": cache_write,
            "seconds": seconds, "channels": channels,
            "usage_chunks": chunks}


def sse(events, eol="\n"):
    """Events as "data: <json>" (dicts are dumped compactly)."""
    out = []
    for ev in events:
        lines = []
        if isinstance(ev, tuple):
            lines.append("event: %s" % ev[0])
            ev = ev[1]
        if isinstance(ev, dict):
            ev = json.dumps(ev, separators=(",", ":"), ensure_ascii=False)
        lines.append("data: %s" % ev)
        out.append(eol.join(lines) + eol + eol)
    return "".join(out)


def usage_case(name, dialect, mode, body, expected, **kw):
    path = fixture("%s.body" % name, body)
    check(["usage", dialect, mode, path], expected, "usage %s" % name, **kw)


# -- OpenAI chat ------------------------------------------------------------

usage_case("openai-json", "openai", "json", json.dumps({
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion", "created": 1741569952,
    "model": "gpt-4o-mini-2024-07-18",
    "usage": {"prompt_tokens": 19, "completion_tokens": 10,
              "total_tokens": 29,
              "prompt_tokens_details": {"cached_tokens": 4,
                                        "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0}},
    "choices": [{"index": 0, "message": {
        "role": "assistant", "content": "Héllo 🌍! How can I help?",
        "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
    "service_tier": "default", "system_fingerprint": "fp_06737a9306"},
    indent=2, ensure_ascii=False),
    units(input=19, output=10, cached=4, chunks=1))


def chunk(delta, finish=None, usage="absent", choices=True, **extra):
    c = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
         "created": 1741570283, "model": "gpt-4o-mini",
         "system_fingerprint": "fp_44709d6fcb",
         "choices": [{"index": 0, "delta": delta, "logprobs": None,
                      "finish_reason": finish}] if choices else []}
    if usage != "absent":
        c["usage"] = usage
    c.update(extra)
    return c


OPENAI_USAGE = {"prompt_tokens": 13, "completion_tokens": 18,
                "total_tokens": 31,
                "prompt_tokens_details": {"cached_tokens": 0,
                                          "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0}}

usage_case("openai-sse-include-usage", "openai", "sse", sse([
    chunk({"role": "assistant", "content": "", "refusal": None},
          usage=None, obfuscation="q8"),
    chunk({"content": "Héllo"}, usage=None, obfuscation="xYz1"),
    chunk({"content": " 🌍 \"usage\": not here"}, usage=None),
    chunk({}, finish="stop", usage=None),
    chunk(None, choices=False, usage=OPENAI_USAGE),
    "[DONE]"]),
    units(input=13, output=18, cached=0, chunks=1))

usage_case("openai-sse-no-usage", "openai", "sse", sse([
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hello"}),
    chunk({}, finish="stop"),
    "[DONE]"]),
    units())

usage_case("openai-sse-null-after-usage", "openai", "sse", sse([
    chunk(None, choices=False, usage=OPENAI_USAGE),
    chunk({"content": "late"}, usage=None),
    chunk({"content": "later"})]),
    units(input=13, output=18, cached=0, chunks=1))

# the usage event is the last, with no blank line (or no line end) after it

usage_case("openai-sse-last-event-unterminated", "openai", "sse",
           sse([chunk({"content": "Hi"}, usage=None)])
           + sse([chunk(None, choices=False, usage=OPENAI_USAGE)])[:-2],
           units(input=13, output=18, cached=0, chunks=1))

usage_case("openai-sse-last-event-cr", "openai", "sse",
           sse([chunk({"content": "Hi"}, usage=None)])
           + sse([chunk(None, choices=False, usage=OPENAI_USAGE)])[:-2]
           + "\r",
           units(input=13, output=18, cached=0, chunks=1))

# events that do not parse, or carry nothing usable, then a good one

usage_case("openai-sse-malformed-then-good", "openai", "sse",
           'data: {"id":"c","choices":[],"usage":{"prompt_tokens":}}\n\n'
           'data: not json, though it says "usage": 1\n\n'
           'data: {"usage": {"prompt_tokens": 1e999, '
           '"completion_tokens": -5}}\n\n'
           'data: {"choices":[{"delta":{"content":"a\\"usage\\": {"}}],'
           '"usage":null}\n\n'
           'data: {"choices":[{"delta":{"content":"unterminated\n\n'
           + sse([chunk(None, choices=False, usage=OPENAI_USAGE),
                  "[DONE]"]),
           units(input=13, output=18, cached=0, chunks=1))

# the framing: comments, retry, id, "data:" with no space, a value over
# three data lines (ended by CRLF, CR and CRLF), a "data" line without a
# colon, another field name

usage_case("openai-sse-framing", "openai", "sse",
           ": keep-alive\n"
           "retry: 1000\n"
           "id: 7\n"
           "event: message\n"
           "data:{\"choices\":[],\r\n"
           "data: \"usage\":{\"prompt_tokens\":\r"
           "data:  13,\"completion_tokens\":18}}\r\n"
           "\r\n"
           "data\n"
           "\n"
           "dataX: {\"usage\":{\"prompt_tokens\":99}}\n"
           ":data: {\"usage\":{\"prompt_tokens\":98}}\n"
           "\n",
           units(input=13, output=18, chunks=1))

# -- OpenAI Responses -------------------------------------------------------

RESP_USAGE = {"input_tokens": 37,
              "input_tokens_details": {"cached_tokens": 5,
                                       "cache_write_tokens": 0},
              "output_tokens": 11,
              "output_tokens_details": {"reasoning_tokens": 0},
              "total_tokens": 48}


def response(status, output, usage, **extra):
    r = {"id": "resp_1", "object": "response", "created_at": 1741290958,
         "status": status, "model": "gpt-5.4", "output": output,
         "usage": usage}
    r.update(extra)
    return r


MESSAGE = {"type": "message", "id": "msg_1", "status": "completed",
           "role": "assistant",
           "content": [{"type": "output_text", "text": "Hi there",
                        "annotations": []}]}

RESPONSES_EVENTS = [
    ("response.created", {"type": "response.created", "sequence_number": 0,
                          "response": response("in_progress", [], None)}),
    ("response.in_progress", {"type": "response.in_progress",
                              "sequence_number": 1,
                              "response": response("in_progress", [],
                                                   None)}),
    ("response.output_text.delta", {
        "type": "response.output_text.delta", "sequence_number": 4,
        "item_id": "msg_1", "output_index": 0, "content_index": 0,
        "delta": "Hi", "logprobs": []})]

usage_case("responses-sse", "openai", "sse", sse(RESPONSES_EVENTS + [
    ("response.completed", {"type": "response.completed",
                            "sequence_number": 42,
                            "response": response("completed", [MESSAGE],
                                                 RESP_USAGE)})]),
    units(input=37, output=11, cached=5, chunks=1))

usage_case("responses-json", "openai", "json",
           json.dumps(response("completed", [MESSAGE], RESP_USAGE)),
           units(input=37, output=11, cached=5, chunks=1))

# a response.completed of 150 KiB: long strings with escapes and UTF-8,
# thousands of numbers, tool schemas nested deeper than any path, and the
# usage at the very end

deep = {"type": "string"}
for i in range(24):
    deep = {"type": "object", "properties": {"p%d" % i: deep}}
big_text = "".join("Line %d: «quoted \"text\"» ☃ \\ tab\t 🌍 usage:%d\n"
                   % (i, i) for i in range(1900))
big_output = [{"type": "message", "id": "msg_1", "status": "completed",
               "role": "assistant",
               "content": [{"type": "output_text", "text": big_text,
                            "annotations": [],
                            "logprobs": [{"token": "t%d" % i,
                                          "logprob": -0.0001 * i,
                                          "bytes": [116, 48 + i % 10]}
                                         for i in range(900)]}]}]
big_event = {"type": "response.completed", "sequence_number": 9000,
             "response": response("completed", big_output, RESP_USAGE,
                                  tools=[{"type": "function", "name": "f",
                                          "parameters": deep}])}
big_body = sse(RESPONSES_EVENTS + [("response.completed", big_event)])
ok(len(big_body) > 100 * 1024, "the big event is over 100 KiB (%d bytes)"
   % len(big_body))
usage_case("responses-sse-huge-event", "openai", "sse", big_body,
           units(input=37, output=11, cached=5, chunks=1), big=True)

# a huge event without usage, then the usage in a small one

usage_case("openai-sse-huge-then-usage", "openai", "sse",
           sse([chunk({"content": big_text * 2}, usage=None),
                chunk(None, choices=False, usage=OPENAI_USAGE)]),
           units(input=13, output=18, cached=0, chunks=1), big=True)

# -- OpenAI transcription ----------------------------------------------------

usage_case("transcription-tokens", "openai", "json", json.dumps({
    "text": "Imagine the wildest idea that you've ever had.",
    "usage": {"type": "tokens", "input_tokens": 14,
              "input_token_details": {"text_tokens": 10, "audio_tokens": 4},
              "output_tokens": 101, "total_tokens": 115}}),
    units(input=14, output=101, chunks=1))

usage_case("transcription-duration", "openai", "json",
           '{"text":"Hello.","usage":{"type":"duration","seconds":9}}',
           units(seconds=9, chunks=1))

usage_case("transcription-verbose", "openai", "json", json.dumps({
    "task": "transcribe", "language": "english", "duration": 8.47,
    "text": "The beach was a popular spot on a hot summer day.",
    "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": 3.32,
                  "text": " The beach was a popular spot.",
                  "tokens": [50364, 440, 7534, 390, 257], "temperature": 0.0,
                  "avg_logprob": -0.286, "compression_ratio": 1.2,
                  "no_speech_prob": 0.00985}],
    "usage": {"type": "duration", "seconds": 9}}, indent=1),
    units(seconds=9, chunks=1))

usage_case("transcription-usage-before-duration", "openai", "json",
           '{"usage":{"seconds":9,"type":"duration"},"duration":8.47}',
           units(seconds=9, chunks=1))

usage_case("transcription-verbose-no-usage", "openai", "json",
           '{"task":"transcribe","duration":8.47,"text":"The beach."}',
           units(seconds=8.47, chunks=1))

usage_case("transcription-seconds-of-tokens-type", "openai", "json",
           '{"usage":{"seconds":5,"type":"tokens","input_tokens":3}}',
           units(input=3, chunks=1))

usage_case("transcription-sse", "openai", "sse", sse([
    {"type": "transcript.text.delta", "delta": "I", "logprobs": []},
    {"type": "transcript.text.delta", "delta": " see", "logprobs": []},
    {"type": "transcript.text.done", "text": "I see",
     "usage": {"type": "tokens", "input_tokens": 14,
               "input_token_details": {"text_tokens": 0,
                                       "audio_tokens": 14},
               "output_tokens": 45, "total_tokens": 59}}]),
    units(input=14, output=45, chunks=1))

# a JSON answer cut short keeps what it had

usage_case("openai-json-truncated", "openai", "json",
           '{"usage":{"prompt_tokens":19,"completion_tokens":10',
           units(input=19, output=10, chunks=1))

# several values in one body (newline-delimited JSON)

usage_case("openai-json-several", "openai", "json",
           '{"usage":{"prompt_tokens":1,"completion_tokens":1}}\n'
           '{"choices":[]}\n'
           '{"usage":{"prompt_tokens":2,"completion_tokens":3}}\n',
           units(input=2, output=3, chunks=2))

usage_case("openai-json-deep", "openai", "json",
           '{"a":' + "[" * 40 + '{"usage":{"prompt_tokens":99}}'
           + "]" * 40 + ',"usage":{"prompt_tokens":3,'
           '"completion_tokens":4}}',
           units(input=3, output=4, chunks=1))

# -- Groq ------------------------------------------------------------------

usage_case("groq-sse", "openai", "sse", sse([
    chunk({"role": "assistant", "content": ""},
          x_groq={"id": "req_01jbd6g2qdfw2adyrt2az8hz4w"}),
    chunk({"content": "Fast"}),
    chunk({}, finish="stop", x_groq={
        "id": "req_01jbd6g2qdfw2adyrt2az8hz4w",
        "usage": {"queue_time": 0.0203, "prompt_tokens": 20,
                  "prompt_time": 0.0011, "completion_tokens": 30,
                  "completion_time": 0.1, "total_tokens": 50,
                  "total_time": 0.1011}}),
    "[DONE]"]),
    units(input=20, output=30, chunks=1))

# -- Anthropic ---------------------------------------------------------------

ANT_START = {"type": "message_start", "message": {
    "id": "msg_1", "type": "message", "role": "assistant", "content": [],
    "model": "claude-sonnet-4-6", "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 25, "cache_creation_input_tokens": 7,
              "cache_read_input_tokens": 100, "output_tokens": 1,
              "service_tier": "standard"}}}
ANT_MIDDLE = [
    ("ping", {"type": "ping"}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text",
                                               "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta",
                                       "text": "Héllo 🌍"}}),
    ("ping", {"type": "ping"}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta",
                                       "text": "!"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0})]
ANT_STOP = ("message_stop", {"type": "message_stop"})

usage_case("anthropic-sse-crlf", "anthropic", "sse", sse(
    [("message_start", ANT_START)] + ANT_MIDDLE + [
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn",
                                     "stop_sequence": None},
                           "usage": {"output_tokens": 15}}),
        ANT_STOP], eol="\r\n"),
    units(input=25, output=15, cached=100, cache_write=7, chunks=2))

usage_case("anthropic-sse-cr-delta-overrides", "anthropic", "sse", sse(
    [("message_start", ANT_START)] + ANT_MIDDLE + [
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 9}}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn"},
                           "usage": {"input_tokens": 40,
                                     "cache_creation_input_tokens": None,
                                     "cache_read_input_tokens": 120,
                                     "output_tokens": 15,
                                     "server_tool_use": {
                                         "web_search_requests": 1}}}),
        ANT_STOP], eol="\r"),
    units(input=40, output=15, cached=120, cache_write=7, chunks=3))

usage_case("anthropic-json", "anthropic", "json", json.dumps({
    "id": "msg_1", "type": "message", "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
    "usage": {"input_tokens": 25, "output_tokens": 120,
              "cache_creation_input_tokens": 0,
              "cache_read_input_tokens": 2048,
              "cache_creation": {"ephemeral_5m_input_tokens": 0,
                                 "ephemeral_1h_input_tokens": 0},
              "service_tier": "standard",
              "server_tool_use": {"web_search_requests": 0}}}),
    units(input=25, output=120, cached=2048, cache_write=0, chunks=1))

# -- Gemini ----------------------------------------------------------------


def gemini(text, usage=None, finish=None):
    c = {"content": {"parts": [{"text": text}], "role": "model"},
         "index": 0}
    if finish:
        c["finishReason"] = finish
    g = {"candidates": [c]}
    if usage:
        g["usageMetadata"] = usage
    g["modelVersion"] = "gemini-2.5-flash"
    g["responseId"] = "mAitaJyXN9Ptz7IPz8qnoQs"
    return g


GEMINI_CHUNKS = [
    gemini("The", {"promptTokenCount": 220, "candidatesTokenCount": 1,
                   "totalTokenCount": 406, "thoughtsTokenCount": 185,
                   "promptTokensDetails": [{"modality": "TEXT",
                                            "tokenCount": 220}]}),
    gemini(" sky"),
    gemini(" is blue.", {"promptTokenCount": 220, "candidatesTokenCount": 5,
                         "totalTokenCount": 410,
                         "cachedContentTokenCount": 100,
                         "thoughtsTokenCount": 185}, finish="STOP")]

usage_case("gemini-sse", "gemini", "sse", sse(GEMINI_CHUNKS, eol="\r\n"),
           units(input=220, output=190, cached=100, chunks=2))

usage_case("gemini-json-array", "gemini", "json",
           json.dumps(GEMINI_CHUNKS, indent=2),
           units(input=220, output=190, cached=100, chunks=2))

# -- speech to text -----------------------------------------------------------

usage_case("deepgram-json", "deepgram", "json", json.dumps({
    "metadata": {"transaction_key": "deprecated",
                 "request_id": "8c8ebea9-dbec-45fa-a035-e4632cb05b5f",
                 "sha256": "e3b0c44298fc1c149afbf4c8996fb924",
                 "created": "2026-08-01T10:00:00.000Z",
                 "duration": 25.933313, "channels": 2,
                 "models": ["30089e05-99d1-4376-b32e-c263170674af"],
                 "model_info": {"30089e05-99d1-4376-b32e-c263170674af": {
                     "name": "general-nova-3", "version": "2024-12-20",
                     "arch": "nova-3"}}},
    "results": {"channels": [{"alternatives": [{
        "transcript": "hello", "confidence": 0.99,
        "words": [{"word": "hello", "start": 0.08, "end": 0.5,
                   "confidence": 0.99}]}]}] * 2}}),
    units(seconds=25.933313, channels=2, chunks=1))

usage_case("cartesia-json", "cartesia", "json",
           '{"type":"transcript","text":"Hello world","duration":3.5,'
           '"language":"en","request_id":"req_1"}',
           units(seconds=3.5, chunks=1))

usage_case("assemblyai-json", "assemblyai", "json", json.dumps({
    "id": "6rlr37h8v0-e0d1-4b8c-9c46-4d3d5b5c1c2a", "status": "completed",
    "text": "Hi.", "words": [{"text": "Hi.", "start": 250, "end": 650,
                             "confidence": 0.97}],
    "audio_duration": 281, "confidence": 0.93}),
    units(seconds=281, chunks=1))

usage_case("elevenlabs-nothing", "elevenlabs", "json",
           '{"usage":{"prompt_tokens":5},"duration":3}', units())

# -- the request scanner ------------------------------------------------------


def request_case(name, body, expected):
    path = fixture("req-%s.json" % name, body)
    exp = {"chars": 0, "text_fields": 0, "stream": -1, "include_usage": -1,
           "invalid": 0}
    exp.update(expected)
    check(["request", path], exp, "request %s" % name)


request_case("tts-utf8", json.dumps({"model": "tts-1",
                                     "input": "héllo 🌍", "voice": "alloy"},
                                    ensure_ascii=False),
             {"model": "tts-1", "chars": 7, "text_fields": 1})
request_case("tts-escaped", '{"input":"h\\u00e9llo \\ud83c\\udf0d",'
             '"model":"gpt-4o-mini-tts"}',
             {"model": "gpt-4o-mini-tts", "chars": 7, "text_fields": 1})
request_case("top-level-only", '{"messages":[{"role":"user","text":"x",'
             '"input":"yy","model":"inner"}],"stream_x":true,'
             '"meta":{"stream":true,"stream_options":{"include_usage":1}}}',
             {})
request_case("model-id", '{"model_id":"eleven_multilingual_v2",'
             '"text":"Hello, world","voice_settings":{"stability":0.5}}',
             {"model": "eleven_multilingual_v2", "chars": 12,
              "text_fields": 1})
request_case("model-beats-model-id", '{"model_id":"a","model":"b",'
             '"model_id":"c"}', {"model": "b"})
request_case("cartesia", json.dumps({
    "model_id": "sonic-3", "transcript": "Hi there",
    "voice": {"mode": "id", "id": "a0e99841-438c-4a64-b679-ae501e7d6091"},
    "output_format": {"container": "raw", "encoding": "pcm_f32le",
                      "sample_rate": 44100}}),
    {"model": "sonic-3", "chars": 8, "text_fields": 1})
request_case("stream-options", json.dumps({
    "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}],
    "stream": True, "stream_options": {"include_usage": False}}),
    {"model": "gpt-4o-mini", "stream": 1, "include_usage": 0})
request_case("stream-false", '{"stream":false,"stream_options":'
             '{"include_usage":true},"model":"m"}',
             {"model": "m", "stream": 0, "include_usage": 1})
request_case("stream-not-boolean", '{"stream":"yes","stream_options":'
             '[{"include_usage":true}]}', {})
request_case("sum-of-texts", '{"input":"abc","text":"de","transcript":"€"}',
             {"chars": 6, "text_fields": 3})
request_case("malformed", '{"model":"gpt-4o","stream":true,"messages":[{',
             {"model": "gpt-4o", "stream": 1, "invalid": 1})
request_case("trailing-garbage", '{"model":"gpt-4o"} {"x":1}',
             {"model": "gpt-4o", "invalid": 1})
request_case("bad-utf8", b'{"model":"m","input":"\xff\xfe"}',
             {"model": "m", "invalid": 1})
request_case("model-200", json.dumps({"model": "m" * 200}),
             {"model": "m" * 200})
request_case("model-201", json.dumps({"model": "m" * 201}), {})
request_case("model-escaped-long", '{"model":"' + "\\u0061" * 300 + '"}',
             {})
request_case("long-cjk", json.dumps({"text": "世界" * 900},
                                    ensure_ascii=False),
             {"chars": 1800, "text_fields": 1})
long_text = ("Grüße, 世界! 🌍 \\\"q\\\" \\u00e9\\ud83d\\ude00 " * 400)
request_case("long-text", '{"model":"tts-1","input":"' + long_text + '"}',
             {"model": "tts-1", "chars": len(json.loads('"%s"' % long_text)),
              "text_fields": 1})

# the values of keys no path names are passed over by the filter, not
# parsed (NGX_VOICEGW_JSONFEED_SKIP): quotes, escapes, brackets and keys
# that look like ours inside them change nothing
tricky = [{"role": "system", "content": 'say "}]" and \\"model\\": "x" \\'},
          {"role": "user", "content": [
              {"type": "text", "text": "a [nested] {thing}", "model": "no",
               "input": "not billed", "stream": True},
              {"type": "image_url", "image_url": {"url": "data:,{[\"]}"}}]},
          {"role": "assistant", "content": None, "tool_calls": [
              {"function": {"arguments": "{\"stream\": false}"}}]},
          {"role": "user", "content": "\\\\"}]
request_case("skip-tricky", json.dumps({
    "messages": tricky, "temperature": 0.7, "n": 1, "tools": [],
    "metadata": {"stream": False}, "model": "gpt-4o", "stream": True},
    ensure_ascii=False), {"model": "gpt-4o", "stream": 1})
request_case("skip-deep", '{"messages":' + "[" * 2000 + "]" * 2000
             + ',"model":"m"}', {"model": "m"})
request_case("skip-unchecked", '{"messages":[{"a":tru},1,,],"extra":"\xff",'
             '"model":"m","input":"ab"}',
             {"model": "m", "chars": 2, "text_fields": 1})
# keys are compared as written: one with an escape goes to yajl, which
# decodes it; one the table names at another place matches nothing there
request_case("skip-escaped-key", '{"messages":[{"x":1}],"mod\\u0065l":"gpt-4o",'
             '"str\\u0065am":true}', {"model": "gpt-4o", "stream": 1})
# the decision to pass a value over depends on the key's bytes alone,
# however the text is cut: a key with an escape, long enough to be cut,
# whose value is not JSON, fails the parse in every split alike
request_case("skip-escaped-key-split", '{"' + "k" * 150 + '\\u0041":'
             '["\x01"],"model":"m"}', {"invalid": 1})
request_case("skip-named-elsewhere", '{"stream_options":{"model":"x",'
             '"include_usage":true,"stream":true},"include_usage":false,'
             '"model":"m"}', {"model": "m", "include_usage": 1})
request_case("skip-named-object-elsewhere", '{"include_usage":{"model":"x"},'
             '"model_id":["y"],"model":"m"}', {"model": "m"})
request_case("skip-open-at-end", '{"model":"m","messages":[{"x":"y\\"',
             {"model": "m", "invalid": 1})
# members no path names are passed over whole, key and value, and the
# commas are the filter's: whatever members are passed over, first, last
# or between, yajl gets a well-formed object (at every split)
request_case("skip-members-around", '{"a":1,"model":"m","b":[1,{"c":2}],'
             '"stream":true,"d":{"e":"f"},"stream_options":{"x":null,'
             '"include_usage":false,"y":-1.5e3},"z":"end"}',
             {"model": "m", "stream": 1, "include_usage": 0})
request_case("skip-members-spaced", '{ "x" : 12 , "model" : "m" , "y" : '
             'true }', {"model": "m"})
request_case("skip-members-only", '{"x":{"model":"no"},"y":[]}', {})
# what the filter passes to yajl is still checked
request_case("skip-members-kept-invalid", '{"a":1,"model":"m",'
             '"stream":tru}', {"model": "m", "invalid": 1})
# between members passed over, a comma too many is not seen (yajl gets
# the filter's commas; docs/providers.md)
request_case("skip-members-commas", '{"x":1,,"model":"m",}',
             {"model": "m"})
usage_case("openai-json-skipped-text", "openai", "json", json.dumps({
    "id": "chatcmpl-1", "object": "chat.completion",
    "choices": [{"index": 0, "message": {
        "role": "assistant",
        "content": 'not this: {"usage": {"prompt_tokens": 999}} \\" }]'},
        "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 5,
              "total_tokens": 12}}), units(input=7, output=5, chunks=1))
usage_case("openai-json-members", "openai", "json",
           '{"usage":{"total_tokens":12,"completion_tokens_details":'
           '{"reasoning_tokens":3},"prompt_tokens":7,"x":[{"prompt_tokens":'
           '99}],"completion_tokens":5,"prompt_tokens_details":{"audio":1,'
           '"cached_tokens":2}},"id":"c","choices":[]}',
           units(input=7, output=5, cached=2, chunks=1))

# -- WAV ---------------------------------------------------------------------

GUID_TAIL = bytes([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00,
                   0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71])


def riff_chunk(cid, payload, size=None):
    pad = b"\0" if len(payload) % 2 else b""
    return cid + struct.pack("<I", len(payload) if size is None else size) \
        + payload + pad


def fmt(tag, channels, rate, align, bits, extra=b""):
    return riff_chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate,
                                           rate * align, align, bits) + extra)


def fmt_ext(sub, channels, rate, bits):
    align = channels * bits // 8
    return fmt(0xfffe, channels, rate, align, bits,
               struct.pack("<HHI", 22, bits, 3) + struct.pack("<H", sub)
               + GUID_TAIL)


def wav_file(*chunks, riff=b"RIFF", riff_size=None):
    body = b"WAVE" + b"".join(chunks)
    return riff + struct.pack("<I", len(body) if riff_size is None
                              else riff_size) + body


def wav_expect(status=1, format=1, channels=1, rate=16000, align=2,
               size=0, seen=0, duration=-1):
    return {"status": status, "format": format, "channels": channels,
            "sample_rate": rate, "block_align": align, "data_size": size,
            "data_seen": seen, "duration": duration}


def wav_case(name, data, expected):
    check(["wav", fixture("%s.wav" % name, data)], expected, "wav %s" % name)


pcm = bytes(range(256)) * 187 + bytes(128)           # 48000 bytes
wav_case("pcm-list-before-data", wav_file(
    fmt(1, 1, 16000, 2, 16),
    riff_chunk(b"LIST", b"INFOISFT\x0d\0\0\0Lavf60.16.100\0"),
    riff_chunk(b"data", pcm)),
    wav_expect(size=48000, seen=48000, duration=1.5))
wav_case("alaw-fmt18-junk-bext", wav_file(
    riff_chunk(b"JUNK", bytes(28)),
    fmt(6, 1, 8000, 1, 8, b"\0\0"),
    riff_chunk(b"bext", bytes(601)),
    riff_chunk(b"data", bytes(4000))),
    wav_expect(format=6, rate=8000, align=1, size=4000, seen=4000,
               duration=0.5))
wav_case("extensible-float", wav_file(
    fmt_ext(3, 2, 48000, 32), riff_chunk(b"data", bytes(96000))),
    wav_expect(format=3, channels=2, rate=48000, align=8, size=96000,
               seen=96000, duration=0.25))
wav_case("extensible-pcm", wav_file(
    fmt_ext(1, 1, 16000, 16), riff_chunk(b"data", bytes(8000))),
    wav_expect(size=8000, seen=8000, duration=0.25))
wav_case("extensible-other", wav_file(
    fmt_ext(2, 1, 16000, 16), riff_chunk(b"data", bytes(800))),
    wav_expect(format=0xfffe, size=800, seen=800))
wav_case("streamed-ffffffff", fmt(1, 1, 16000, 2, 16).join(
    [b"RIFF\xff\xff\xff\xffWAVE", b"data\xff\xff\xff\xff" + bytes(32000)]),
    wav_expect(size=0xffffffff, seen=32000, duration=1.0))
wav_case("streamed-zero-mulaw", fmt(7, 1, 8000, 1, 8).join(
    [b"RIFF\0\0\0\0WAVE", b"data\0\0\0\0" + bytes(4000)]),
    wav_expect(format=7, rate=8000, align=1, size=0, seen=4000,
               duration=0.5))
wav_case("declared-more-than-sent", wav_file(
    fmt(1, 1, 16000, 2, 16), riff_chunk(b"data", bytes(16000), 64000)),
    wav_expect(size=64000, seen=16000, duration=0.5))
wav_case("chunk-after-data", wav_file(
    fmt(1, 1, 16000, 2, 16), riff_chunk(b"data", bytes(32000)),
    riff_chunk(b"LIST", bytes(100))),
    wav_expect(size=32000, seen=32108, duration=1.0))
wav_case("rf64", wav_file(
    riff_chunk(b"ds64", struct.pack("<QQQI", 32036, 32000, 0, 0)),
    fmt(1, 1, 16000, 2, 16), b"data\xff\xff\xff\xff" + bytes(32000),
    riff=b"RF64", riff_size=0xffffffff),
    wav_expect(size=0xffffffff, seen=32000, duration=1.0))
wav_case("not-wav-mp3", b"ID3\x04\0\0\0\0\0\x23TSSE\0\0\0\x0f\0\0\3Lavf"
         + bytes(600), wav_expect(status=2, format=0, channels=0, rate=0,
                                  align=0))
wav_case("data-before-fmt", wav_file(riff_chunk(b"data", bytes(100)),
                                     fmt(1, 1, 16000, 2, 16)),
         wav_expect(status=2, format=0, channels=0, rate=0, align=0))

# -- multipart ---------------------------------------------------------------

B = "----WebKitFormBoundary7MA4YWxkTrZu0gW"


def part(name, value, filename=None, ctype=None, disposition=None):
    head = disposition or ('Content-Disposition: form-data; name="%s"%s'
                           % (name, '; filename="%s"' % filename
                              if filename else ""))
    if ctype:
        head += "\r\nContent-Type: " + ctype
    return head.encode() + b"\r\n\r\n" + value


def multipart(parts, boundary=B, preamble=b"", close=True, padding=b""):
    out = preamble
    for p in parts:
        out += b"--" + boundary.encode() + padding + b"\r\n" + p + b"\r\n"
    if close:
        out += b"--" + boundary.encode() + b"--\r\n"
    return out


def multipart_case(name, ctype, data, expected, file_value=None,
                   file_type=""):
    """file_value: the bytes of the "file" part, found in data to give
    where they start; file_type: that part's Content-Type as read."""
    if file_value is not None:
        expected = dict(expected, file_type=file_type,
                        file_start=data.index(b"\r\n\r\n" + file_value) + 4)
    path = fixture("%s.multipart" % name, data)
    check(["multipart", ctype, path], expected, "multipart %s" % name)


# audio whose bytes hold the start of the delimiter, three times, the last
# one just before the real delimiter
tricky = (bytes(2000) + b"\r\n--" + B[:20].encode() + b"X" + bytes(999)
          + b"\r\r\n\r\n--" + B.encode()[:-1] + b"\0" + bytes(17000)
          + b"\0\r\n-")
audio = wav_file(fmt(1, 1, 16000, 2, 16), riff_chunk(b"data", tricky))
dur = len(tricky) / 32000.0

multipart_case("openai-model-after-file",
               "multipart/form-data; boundary=" + B,
               multipart([part("file", audio, "speech.wav", "audio/wav"),
                          part("model", b"whisper-1"),
                          part("response_format", b"text")]),
               {"model": "whisper-1", "parts": 3, "file": 1,
                "file_bytes": len(audio), "complete": 1, "invalid": 0,
                "wav": wav_expect(size=len(tricky), seen=len(tricky),
                                  duration=dur)},
               audio, "audio/wav")

multipart_case("quoted-boundary-preamble-params",
               'multipart/form-data; charset=utf-8; boundary="a:b c"',
               multipart([
                   part(None, b"gpt-4o-transcribe", disposition=(
                       "content-disposition: form-data; name=model")),
                   part(None, audio, disposition=(
                       'Content-Type:  Video/WebM ; codecs="vp8, opus"\r\n'
                       'Content-Disposition:form-data; '
                       'filename="name=model; x.wav"; NAME="file"')),
                   part("file", b"RIFF-second-file-ignored")],
                   boundary="a:b c", preamble=b"This is a preamble.\r\n",
                   padding=b" \t"),
               {"model": "gpt-4o-transcribe", "parts": 3, "file": 1,
                "file_bytes": len(audio), "complete": 1, "invalid": 0,
                "wav": wav_expect(size=len(tricky), seen=len(tricky),
                                  duration=dur)},
               audio, "Video/WebM")

multipart_case("model-too-long-mp3",
               "multipart/form-data; boundary=xyz",
               multipart([part("model", b"m" * 201),
                          part("file", b"ID3\x04" + bytes(3000),
                               "a.mp3", "audio/mpeg")], boundary="xyz"),
               {"parts": 2, "file": 1, "file_bytes": 3004, "complete": 1,
                "invalid": 0,
                "wav": wav_expect(status=2, format=0, channels=0, rate=0,
                                  align=0)},
               b"ID3\x04" + bytes(3000), "audio/mpeg")

multipart_case("elevenlabs-model-id", "multipart/form-data; boundary=xyz",
               multipart([part("model_id", b"scribe_v1"),
                          part("file", audio, "a.wav"),
                          part("diarize", b"true")], boundary="xyz"),
               {"model": "scribe_v1", "parts": 3, "file": 1,
                "file_bytes": len(audio), "complete": 1, "invalid": 0,
                "wav": wav_expect(size=len(tricky), seen=len(tricky),
                                  duration=dur)},
               audio, "")

multipart_case("model-beats-model-id", "multipart/form-data; boundary=xyz",
               multipart([part("model", b"whisper-1"),
                          part("model_id", b"other"),
                          part("model", b"m" * 201)], boundary="xyz"),
               {"model": "whisper-1", "parts": 3, "file": 0,
                "file_bytes": 0, "complete": 1, "invalid": 0,
                "wav": wav_expect(status=0, format=0, channels=0, rate=0,
                                  align=0)})

multipart_case("cut-short", "multipart/form-data; boundary=xyz",
               multipart([part("model", b"whisper-large-v3"),
                          part("file", audio, "a.wav")],
                         boundary="xyz", close=False)[:-5000],
               {"model": "whisper-large-v3", "parts": 2, "file": 1,
                "file_bytes": len(audio) + 2 - 5000, "complete": 0,
                "invalid": 0,
                "wav": wav_expect(size=len(tricky),
                                  seen=len(tricky) + 2 - 5000,
                                  duration=(len(tricky) + 2 - 5000)
                                  / 32000.0)},
               audio[:1000], "")

rc, out, err = drive(DRIVER, ["multipart", "multipart/form-data; charset=x",
                              fixture("none.multipart", b""), "whole"])
is_(out, '{"boundary":null}', "multipart: no boundary, no scan")

# -- the usage-only event taken out of a chat stream ---------------------------
#
# The driver plays the upstream (reads into a 4 KiB buffer reused once its
# bufs are sent, poisoned before) and the writer; the client must get the
# stream minus exactly the dropped event, with no empty buf, no flag lost
# and no byte held back but those of the unfinished event, and the
# filter's hold buffers reused.  Options (t/support/parser_driver.c): "-"
# one read a call, "ms" two reads a call and a writer that sends every
# third call, "le" last_buf on the last read and on an empty buf.

STRIPPED = {"same": 1, "faults": 0, "own_bufs": "few"}


def strip_case(name, events, drop, options=("-", "ms", "le"), big=False):
    """events: the stream's pieces; drop: the index of the one removed."""
    body = "".join(events)
    kept = "".join(e for i, e in enumerate(events) if i != drop)
    path = fixture("strip-%s.sse" % name, body)
    expected = fixture("strip-%s.expected" % name, kept)
    for opt in options:
        check(["strip", opt, expected, path], STRIPPED,
              "strip %s (%s)" % (name, opt), big=big)
    return path, expected


def stream(n=60, eol="\n", usage=True, done=True):
    """A chat completion stream with include_usage: every chunk says
    "usage":null, then the usage-only chunk, then [DONE]."""
    u = None if usage else "absent"
    out = [chunk({"role": "assistant", "content": "", "refusal": None},
                 usage=u, obfuscation="q8")]
    out += [chunk({"content": "wörd %d " % i}, usage=u,
                  obfuscation="x" * (i % 7)) for i in range(n)]
    out.append(chunk({}, finish="stop", usage=u))
    if usage:
        out.append(chunk(None, choices=False, usage=OPENAI_USAGE))
    if done:
        out.append("[DONE]")
    return [sse([c], eol) for c in out]


ev = stream()
path, expected = strip_case("openai", ev, len(ev) - 2)

rc, out, err = drive(DRIVER, ["strip", "fb", expected, path, "whole+events"])
is_(out.splitlines(), ['{"same":1,"faults":0,"own_bufs":"few","rebuilt":0}',
                       '{"same":1,"faults":0,"own_bufs":"few","rebuilt":1}'],
    "strip openai: complete events pass in the upstream's own chain (the "
    "read that was only the usage event leaves a flush)")

ev = stream(eol="\r\n")
strip_case("openai-crlf", ev, len(ev) - 2)

ev = stream(usage=False)
path, expected = strip_case("no-usage", ev, None)
rc, out, err = drive(DRIVER, ["strip", "fb", expected, path, "whole+events"])
is_(out.splitlines(), ['{"same":1,"faults":0,"own_bufs":"few","rebuilt":0}']
    * 2, "strip no-usage: byte for byte, in the upstream's own chain")

# comments, fields other than data, CR-only line ends ("\r\r" ends an
# event), the usage chunk over three data lines ended by CRLF, CR, LF

usage_lines = json.dumps(chunk(None, choices=False, usage=OPENAI_USAGE),
                         separators=(",", ":"), indent=1).split("\n")
ev = [": keep-alive\n\n",
      "retry: 1000\nid: 1\n" + sse([chunk({"role": "assistant"})]),
      ": keep-alive\n",
      "event: message\r" + sse([chunk({"content": "Hi"})], "\r"),
      "data: {\"choices\":[{\"delta\":\r\ndata: {\"content\":\"two lines\"}"
      "}]}\r\n\r\n",
      "\n",
      "data:" + "\r\ndata:".join(usage_lines[:3]) + "\rdata:"
      + "\ndata:".join(usage_lines[3:]) + "\n\n",
      ": after\n\n",
      "data: [DONE]\r\r"]
strip_case("framing", ev, 6)

# events that look like it and are kept; the real one after them goes,
# and the second usage-only chunk stays

ev = [sse([chunk(None, choices=False, usage=OPENAI_USAGE)]).replace(
          '"choices":[]', '"choices":[],"x":'),                 # not JSON
      sse([chunk({"content": "a"}, usage=OPENAI_USAGE)]),       # LiteLLM's
      sse([{"id": "c", "usage": OPENAI_USAGE}]),                 # no choices
      sse([{"choices": [], "usage": None}]),
      sse([{"choices": {}, "usage": {"prompt_tokens": 1}}]),
      sse([{"choices": [], "x": {"usage": {"a": 1}}}]),
      sse([{"choices": [[]], "usage": {}}]),
      sse(['[{"choices":[],"usage":{}}]']),
      sse([{"choices": [{"delta": {"content": '"usage": {"choices": []}'}}]}]),
      ": {\"choices\":[],\"usage\":{}}\n\n",
      "event: usage\n" + sse([chunk({"content": "b"})]),
      sse([chunk(None, choices=False, usage=OPENAI_USAGE)]),
      sse([chunk({"content": "after"})]),
      sse([{"choices": [], "usage": {}}]),
      sse(["[DONE]"])]
strip_case("lookalikes-then-twice", ev, 11)

ev = [sse([{"choices": [], "usage": {"prompt_tokens": 1}}]),
      sse([{"choices": [], "usage": {"prompt_tokens": 1}}])] + stream(3)
strip_case("first-event", ev, 0)

# the stream ends without its last blank line: [DONE], or the usage event
# itself (not known complete: it goes out as it is)

ev = stream(5)
ev[-1] = ev[-1].rstrip("\n")
strip_case("unterminated-done", ev, len(ev) - 2)

ev = stream(5, done=False)
ev[-1] = ev[-1][:-1]
strip_case("unterminated-usage", ev, None)

ev = stream(5, eol="\r", done=False)
strip_case("cr-usage-last", ev, None)
ev.append("data: [DONE]\r\r")
strip_case("cr-usage-then-done", ev, len(ev) - 2)

# an event over the 64 KiB hold limit passes undecided, in pieces; the
# usage chunk after it still goes; a usage chunk over the limit stays

ev = stream(3)
ev.insert(2, sse([chunk({"content": big_text})], "\r\n"))
ok(len(ev[2]) > 65536, "the giant event is over the hold limit (%d bytes)"
   % len(ev[2]))
strip_case("giant-event", ev, len(ev) - 2, options=("-", "ms", "b"),
           big=True)

ev = stream(3)
ev[-2] = sse([chunk(None, choices=False, usage=OPENAI_USAGE,
                    padding=big_text)])
strip_case("giant-usage", ev, None, options=("-",), big=True)

# -- the key search (ngx_voicegw_scan.h) ---------------------------------------

# with and without AVX2 (where the CPU has it) against memmem(), every
# length to 400 at 16 alignments; then the end of a JSON string's plain run
# and its characters against byte loops, every length to 200 at 16
# alignments (quotes, backslashes, UTF-8 bytes); under AddressSanitizer
# too (a read past a buffer's end)
for binary, name in ((DRIVER, ""), (ASAN, ", under ASan/UBSan")):
    if binary is None:
        continue
    rc, out, err = drive(binary, ["scan"])
    try:
        t = json.loads(out)
    except ValueError:
        t = {}
    ok(rc == 0 and t.get("tried", 0) > 100000 and t.get("found", 0) > 1000,
       "the key search finds what memmem() finds, the string scan what a "
       "byte loop finds%s (%s)" % (name, out))
    if rc != 0:
        diag(out + err[-2000:])

# -- memory over a long stream ------------------------------------------------
#
# yajl's blocks are kept by the process and handed to the next parse: a
# usage parser that parses 100,000 events holds no more memory at the end
# than after its first 1,000 (a block not given back, or an allocation of
# the parser's pool per event, would show as megabytes).

rc, out, err = drive(DRIVER, ["heap"])
try:
    h = json.loads(out)
    is_(h["output"], 18, "heap: the last of 101,000 usage events is read")
    ok(abs(h["growth"]) <= 4096, "heap: a usage parser's memory does not "
       "grow with the events it parses (%+d bytes over 100,000)"
       % h["growth"])
except (ValueError, KeyError):
    ok(False, "heap: the driver prints its numbers")
    diag(out + err)

# -- timing ------------------------------------------------------------------

rc, out, err = drive(DRIVER, ["bench"])
ok(rc == 0, "the timing run ends")
try:
    t = json.loads(out)
    diag("timing (-O1, not asserted): %d ns per %d-byte content event "
         "without usage, %d ns with \"usage\":null, %d ns per usage event, "
         "%d ns per Gemini chunk, %d MB/s through a 4 MiB event"
         % (t["content_ns"], t["content_bytes"], t["content_usage_null_ns"],
            t["usage_event_ns"], t["gemini_chunk_ns"],
            t["big_event_mb_per_s"]))
    diag("the strip filter on a content event in its own read: %d ns, "
         "%d ns with \"usage\":null" % (t["strip_content_ns"],
                                         t["strip_usage_null_ns"]))
    is_(t["big_event_output"], 11, "the 4 MiB event's usage is read")
except (ValueError, KeyError):
    ok(False, "the timing run prints its numbers")
    diag(out + err)

sys.exit(tap.done())
