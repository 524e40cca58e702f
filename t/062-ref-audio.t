#!/usr/bin/env python3
#
# t/062-ref-audio.t -- the default reference audio (issue 10, point 4):
# "voicegw_ref_audio FILE;" read while nginx reads its configuration,
# served by GET /api/default_ref_audio and listed by GET
# /api/assets/ref_audio.  WAV files made here, one nginx reloaded with each:
#   - 16 kHz mono PCM16 comes back sample for sample;
#   - 24 kHz stereo PCM16 (L = R) gives exactly what the same signal in
#     mono gives; 44.1 kHz IEEE float, plain and WAVE_FORMAT_EXTENSIBLE
#     (with a LIST chunk before the data), give the same; 48 kHz 24-bit;
#   - every answer: sample_rate 16000, samples as libsoxr's one-shot
#     length rule gives them, (int64) (frames / (rate / 16000) + .5),
#     duration = samples / 16000, the file's name, base64 of samples x 4
#     bytes, and a 440 Hz sine still 440 Hz (zero crossings) at its RMS;
#   - a relative path is relative to the configuration's folder;
#   - not configured: 404 {"detail","error"}, an empty list;
#   - "nginx -t" refuses a text file, a missing file, 8-bit PCM, A-law,
#     a WAV without "data" and a directory, naming the path and the reason;
#   - a reload with another file changes the answer; a reload with a bad
#     file is refused and the workers keep the old one.

import base64
import json
import math
import os
import re
import signal
import struct
import sys
import time
import wave

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (Nginx, free_port, get, is_, like, ok,  # noqa: E402
                    request, tap, wait_for, workdir)

d = workdir("062-ref-audio")
port = free_port()
prefix = os.path.join(d, "nginx")
conf_dir = os.path.join(prefix, "conf")
os.makedirs(conf_dir, exist_ok=True)

FREQ, AMP = 440.0, 0.5


def sine(rate, seconds):
    n = int(rate * seconds)
    return [AMP * math.sin(2 * math.pi * FREQ * i / rate) for i in range(n)]


def pcm(values, width):
    full = (1 << (8 * width - 1)) - 1
    out = bytearray()
    for v in values:
        out += int(round(v * full)).to_bytes(width, "little", signed=True)
    return bytes(out)


def with_wave(path, rate, channels, width, values):
    """PCM through Python's wave module: the channels all carry values."""
    frames = pcm(values, width)
    if channels > 1:
        frames = b"".join(frames[i:i + width] * channels
                          for i in range(0, len(frames), width))
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)


def float_wav(path, rate, values, extensible):
    """IEEE float 32 written by hand, a LIST chunk before the data."""
    data = b"".join(struct.pack("<f", v) for v in values)
    if extensible:
        guid = struct.pack("<H", 3) + bytes.fromhex(
            "000000001000800000aa00389b71")
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, rate, rate * 4, 4, 32,
                          22, 32, 4) + guid
    else:
        fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    info = b"INFOISFT" + struct.pack("<I", 5) + b"test\x00\x00"
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"LIST" + struct.pack("<I", len(info)) + info
            + b"data" + struct.pack("<I", len(data)) + data)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def raw_wav(path, tag, bits, data=b"\x00" * 64, with_data=True):
    block = bits // 8
    fmt = struct.pack("<HHIIHH", tag, 1, 8000, 8000 * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if with_data:
        body += b"data" + struct.pack("<I", len(data)) + data
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def soxr_length(frames, rate):
    """What soxr_oneshot() gives: (int64_t) (ilen / io_ratio + .5)."""
    if rate == 16000:
        return frames
    return int(frames / (rate / 16000.0) + 0.5)


def floats(answer):
    raw = base64.b64decode(answer["base64"])
    return raw, struct.unpack("<%df" % (len(raw) // 4), raw)


def crossings_hz(x):
    """The sine's frequency from its upward zero crossings, edges left
    out (the resampler's filter rings there)."""
    x = x[800:-800]
    up = [i for i in range(1, len(x)) if x[i - 1] < 0 <= x[i]]
    if len(up) < 2:
        return 0
    return (len(up) - 1) * 16000.0 / (up[-1] - up[0])


def rms(x):
    x = x[800:-800]
    return math.sqrt(sum(v * v for v in x) / len(x))


# -- the files ------------------------------------------------------------

files = {}


def make(name, fn, *args):
    path = os.path.join(d, name)
    fn(path, *args)
    files[name] = path
    return path


s16 = sine(16000, 1.0)
s24 = sine(24000, 1.25)
s441 = sine(44100, 1.25)
s48 = sine(48000, 1.25)

make("mono16k.wav", with_wave, 16000, 1, 2, s16)
make("stereo24k.wav", with_wave, 24000, 2, 2, s24)
make("mono24k.wav", with_wave, 24000, 1, 2, s24)
make("float44k.wav", float_wav, 44100, s441, False)
make("floatext44k.wav", float_wav, 44100, s441, True)
make("pcm24_48k.wav", with_wave, 48000, 1, 3, s48)

with open(os.path.join(conf_dir, "voice.wav"), "wb") as f:
    f.write(open(files["mono16k.wav"], "rb").read())


def conf(directive):
    return """
    voicegw_zone  vg 1m;
    %s
    server {
        listen 127.0.0.1:%d;
        location / { voicegw_api service; }
    }
""" % (directive, port)


nginx = Nginx(prefix, conf(""), workers=1)
nginx_conf = os.path.join(conf_dir, "nginx.conf")

# -- not configured ---------------------------------------------------------

nginx.start(wait_ports=[port])

r = get(port, "/api/default_ref_audio")
is_(r.status, 404, "not configured: 404")
is_(r.json(), {"detail": "No default ref audio configured",
               "error": "not_found"}, "not configured: the JSON error")
like(r.header("Content-Type") or "", r"^application/json",
     "not configured: application/json")

r = get(port, "/api/assets/ref_audio")
is_((r.status, r.json()), (200, {"total": 0, "ref_audios": []}),
    "not configured: the list is empty")

# -- each file --------------------------------------------------------------

answers = {}

CASES = (
    # file, rate, frames
    ("mono16k.wav", 16000, len(s16)),
    ("stereo24k.wav", 24000, len(s24)),
    ("mono24k.wav", 24000, len(s24)),
    ("float44k.wav", 44100, len(s441)),
    ("floatext44k.wav", 44100, len(s441)),
    ("pcm24_48k.wav", 48000, len(s48)),
)

for name, rate, frames in CASES:
    ok(nginx.reload(conf("voicegw_ref_audio %s;" % files[name])),
       "%s: the reload is done" % name)

    r = get(port, "/api/default_ref_audio")
    a = r.json() or {}
    answers[name] = a
    is_(r.status, 200, "%s: 200" % name)
    like(r.header("Content-Type") or "", r"^application/json",
         "%s: application/json" % name)
    is_(sorted(a), ["base64", "duration", "name", "sample_rate", "samples"],
        "%s: the fields" % name)
    is_(a.get("name"), name, "%s: the name, without its folder" % name)
    is_(a.get("sample_rate"), 16000, "%s: sample_rate 16000" % name)

    want = soxr_length(frames, rate)
    is_(a.get("samples"), want, "%s: %d frames at %d Hz give %d samples"
        % (name, frames, rate, want))
    is_(a.get("duration"), round(want / 16000.0, 3),
        "%s: duration = samples / 16000" % name)
    ok(abs(a.get("duration", 0) - frames / float(rate)) < 0.001,
       "%s: the file's duration" % name)

    raw, x = floats(a)
    is_(len(raw), want * 4, "%s: base64 of samples x 4 bytes" % name)

    hz = crossings_hz(x)
    ok(abs(hz - FREQ) < 1.0, "%s: the sine is still 440 Hz (%.2f)"
       % (name, hz))
    level = rms(x)
    ok(abs(level - AMP / math.sqrt(2)) < 0.01 * AMP,
       "%s: at its level (RMS %.4f)" % (name, level))
    ok(max(abs(v) for v in x) < AMP * 1.02, "%s: no clipping, no gain"
       % name)

    r = get(port, "/api/assets/ref_audio")
    lst = r.json() or {}
    is_(lst.get("total"), 1, "%s: the list has it" % name)
    item = (lst.get("ref_audios") or [{}])[0]
    is_((item.get("id"), item.get("name"), item.get("filename"),
         item.get("source_type"), item.get("sample_rate"),
         item.get("samples"), item.get("duration"),
         item.get("duration_ms")),
        ("default", name, name, "config", 16000, want, a.get("duration"),
         int(want / 16.0 + 0.5)), "%s: the list's fields" % name)
    like(item.get("created_at") or "", r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
         "%s: created_at, the file's time" % name)

# 16 kHz mono: sample for sample

_, x = floats(answers["mono16k.wav"])
expect = [int(round(v * 32767)) / 32768.0 for v in s16]
is_(max(abs(a - b) for a, b in zip(x, expect)), 0.0,
    "16 kHz mono PCM16: every sample as it was (int16 / 32768)")

is_(answers["stereo24k.wav"]["base64"], answers["mono24k.wav"]["base64"],
    "stereo with L = R gives what mono gives")
is_(answers["floatext44k.wav"]["base64"], answers["float44k.wav"]["base64"],
    "WAVE_FORMAT_EXTENSIBLE float gives what plain float gives")

r = get(port, "/api/default_ref_audio")
before_head = r.body
ok(int(r.header("Content-Length") or 0) == len(r.body) > 0,
   "Content-Length is the answer's length")
r = request("HEAD", port, "/api/default_ref_audio")
is_((r.status, r.body, r.header("Content-Length")),
    (200, b"", str(len(before_head))), "HEAD: the headers only")

# -- a relative path ----------------------------------------------------------

ok(nginx.reload(conf("voicegw_ref_audio voice.wav;")),
   "relative path: the reload is done")
a = get(port, "/api/default_ref_audio").json() or {}
is_((a.get("name"), a.get("samples")), ("voice.wav", len(s16)),
    "a relative path is relative to the configuration's folder")

# -- a reload with a bad file is refused, the old answer stays -------------

before = get(port, "/api/default_ref_audio").body
workers = nginx.worker_pids()
with open(nginx_conf) as f:
    good_conf = f.read()
nginx.write_conf(conf("voicegw_ref_audio %s;"
                      % os.path.join(d, "missing.wav")))
os.kill(nginx.master_pid(), signal.SIGHUP)
ok(wait_for(lambda: "missing.wav" in nginx.error_log(), timeout=5),
   "a reload with a missing file: the error is logged")
time.sleep(0.3)
is_(nginx.worker_pids(), workers, "the reload is refused: same workers")
is_(get(port, "/api/default_ref_audio").body, before,
    "the workers keep the answer they had")

# -- back to none ---------------------------------------------------------

ok(nginx.reload(conf("")), "unconfigured again: the reload is done")
is_(get(port, "/api/default_ref_audio").status, 404,
    "unconfigured after a reload: 404")
is_(get(port, "/api/assets/ref_audio").json(),
    {"total": 0, "ref_audios": []}, "unconfigured after a reload: no list")

nginx.stop()
is_([l for l in nginx.alerts() if "missing.wav" not in l], [],
    "no [alert], [crit] or [emerg] but the refused reload's")

# -- nginx -t -----------------------------------------------------------------

text = os.path.join(d, "notes.txt")
with open(text, "w") as f:
    f.write("this is not a WAV file\n" * 10)
make("u8.wav", raw_wav, 1, 8)
make("alaw.wav", raw_wav, 6, 8)
make("nodata.wav", raw_wav, 1, 16, b"", False)
make("empty.wav", raw_wav, 1, 16, b"")
make("five.wav", with_wave, 8000, 1, 2, [0.0] * 10)
with open(files["five.wav"], "r+b") as f:     # 9 channels, as the header says
    f.seek(22)
    f.write(struct.pack("<H", 9))

for path, reason, what in (
        (text, r"is not a WAV file: no RIFF/WAVE header", "a text file"),
        (os.path.join(d, "missing.wav"), r"failed \(2: No such file",
         "a missing file"),
        (files["u8.wav"], r"unsupported format \(format tag 0x0001, 8 bits\)"
         r": use PCM of 16, 24 or 32 bits or IEEE float of 32 bits",
         "8-bit PCM"),
        (files["alaw.wav"], r"unsupported format \(format tag 0x0006, 8 bits",
         "A-law"),
        (files["nodata.wav"], r'no RIFF/WAVE header with a "fmt " chunk '
         r'before the "data" chunk', "no data chunk"),
        (files["empty.wav"], r"holds no audio", "an empty data chunk"),
        (files["five.wav"], r"has 9 channels in blocks of 2 bytes: use 1 "
         r"to 8 channels", "9 channels"),
        (d, r"is not a file of at most 64m", "a directory")):
    nginx.write_conf(conf("voicegw_ref_audio %s;" % path))
    rc, out = nginx.test_config()
    ok(rc != 0, "nginx -t fails: %s" % what)
    like(out, r'\[emerg\] .*voicegw_ref_audio: .*"%s".*%s.* in %s:\d+'
         % (re.escape(path), reason, re.escape(nginx_conf)),
         "nginx -t names the path, the reason and the line: %s" % what)

nginx.write_conf(conf("voicegw_ref_audio %s;\n    voicegw_ref_audio %s;"
                      % (files["mono16k.wav"], files["mono16k.wav"])))
rc, out = nginx.test_config()
ok(rc != 0 and '"voicegw_ref_audio" directive is duplicate' in out,
   "nginx -t refuses a second voicegw_ref_audio")

sys.exit(tap.done())
