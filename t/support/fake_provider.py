#!/usr/bin/env python3
#
# t/support/fake_provider.py -- a fake cloud provider (Deepgram, OpenAI,
# ElevenLabs, ...) for the tests of POST /v1/providers/{id}/test.
#
# It answers every GET: 200 {"ok":true} when the request carries the
# expected key in one of the providers' key headers, 401 otherwise. Each
# request it sees (method, path, headers) is appended as one JSON line to
# --record, so that a test can check what nginx sent.
#
#   fake_provider.py --port N --key K [--record FILE] [--delay SECONDS]
#                    [--tls CERT KEY]
#
# --delay holds every answer (a provider slower than the test timeout).
# With --tls it speaks https with that certificate. It prints "ready" on
# stdout once it listens.

import argparse
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY_HEADERS = {
    "authorization": ("Bearer ", "Token ", ""),
    "x-api-key": ("",),
    "xi-api-key": ("",),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def authorised(self):
        for name, prefixes in KEY_HEADERS.items():
            value = self.headers.get(name)
            if value is None:
                continue
            for prefix in prefixes:
                if value == prefix + self.server.key:
                    return True
        return False

    def do_GET(self):
        srv = self.server
        with srv.lock:
            if srv.record:
                with open(srv.record, "a") as f:
                    f.write(json.dumps({
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v
                                    for k, v in self.headers.items()},
                    }) + "\n")

        if srv.delay:
            time.sleep(srv.delay)

        if self.authorised():
            status, body = 200, {"ok": True, "models": []}
        else:
            status, body = 401, {"error": "invalid credentials"}

        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--record")
    ap.add_argument("--delay", type=float, default=0)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    a = ap.parse_args()

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.key = a.key
    srv.record = a.record
    srv.delay = a.delay
    srv.lock = threading.Lock()

    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)

    print("ready", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
