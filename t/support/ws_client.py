#!/usr/bin/env python3
# t/support/ws_client.py -- owns the test suite's WebSocket client and the one
# RFC 6455 codec of t/support/ (fake_worker.py imports it for its server side).
#
# Two faces:
#   * a CLI for Perl tests that shell out: it connects, prints the handshake
#     and every received message as one JSON line on stdout, sends what it is
#     told in order, and exits 0 unless something broke the protocol;
#   * a module (WSClient, WebSocket, encode_frame, FrameDecoder) for Python
#     tests.
#
# Python 3 standard library only. Never prints anything on stdout except the
# JSON event lines described in docs/testing-fakes.md. The codec is strict on
# purpose (unmasked client frames, non-minimal lengths, bad UTF-8, RSV bits
# are errors): it exists to catch a gateway that corrupts a relayed stream.

import argparse
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
KNOWN_OPCODES = (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG)

# exit codes of the CLI
EXIT_OK = 0
EXIT_CONNECT = 1      # could not connect / usage error
EXIT_PROTOCOL = 2     # protocol error (bad frame, bad handshake answer)
EXIT_TIMEOUT = 3      # a wait (--send-wait, --expect-close) timed out

QUEUE_NOTICES = ("queued", "queue_update", "queue_done")


class WSProtocolError(Exception):
    """A violation of RFC 6455; code is the close code that fits."""

    def __init__(self, code, reason):
        Exception.__init__(self, "%d %s" % (code, reason))
        self.code = code
        self.reason = reason


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    if isinstance(key, str):
        key = key.encode("ascii")
    digest = hashlib.sha1(key + GUID.encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def apply_mask(data, key):
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    x = int.from_bytes(data, "big") ^ int.from_bytes(k, "big")
    return x.to_bytes(n, "big")


def encode_frame(opcode, payload=b"", fin=True, mask=False, mask_key=None):
    """One frame. Clients must mask (mask=True), servers must not."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | (opcode & 0x0F)
    mbit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        return head + key + apply_mask(payload, key)
    return head + payload


def close_payload(code=None, reason=""):
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


class Frame(object):
    __slots__ = ("fin", "opcode", "payload", "masked")

    def __init__(self, fin, opcode, payload, masked):
        self.fin = fin
        self.opcode = opcode
        self.payload = payload
        self.masked = masked


class FrameDecoder(object):
    """Incremental frame parser: feed() bytes, next() frames (or None).

    require_mask: True for a server (client frames must be masked), False
    for a client (server frames must not be), None to accept both.
    """

    def __init__(self, require_mask=None, max_payload=64 << 20):
        self.buf = bytearray()
        self.require_mask = require_mask
        self.max_payload = max_payload

    def feed(self, data):
        self.buf += data

    def next(self):
        buf = self.buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        fin = bool(b0 & 0x80)
        opcode = b0 & 0x0F
        masked = bool(b1 & 0x80)
        n = b1 & 0x7F
        pos = 2
        if b0 & 0x70:
            raise WSProtocolError(1002, "RSV bits set without extension")
        if opcode not in KNOWN_OPCODES:
            raise WSProtocolError(1002, "unknown opcode %d" % opcode)
        if opcode >= 0x8 and (not fin or n > 125):
            raise WSProtocolError(1002, "bad control frame")
        if n == 126:
            if len(buf) < 4:
                return None
            n = struct.unpack_from("!H", buf, 2)[0]
            pos = 4
            if n < 126:
                raise WSProtocolError(1002, "non-minimal 16-bit length")
        elif n == 127:
            if len(buf) < 10:
                return None
            n = struct.unpack_from("!Q", buf, 2)[0]
            pos = 10
            if n >> 63:
                raise WSProtocolError(1002, "64-bit length with MSB set")
            if n < 65536:
                raise WSProtocolError(1002, "non-minimal 64-bit length")
        if self.require_mask is True and not masked:
            raise WSProtocolError(1002, "client frame not masked")
        if self.require_mask is False and masked:
            raise WSProtocolError(1002, "server frame masked")
        if n > self.max_payload:
            raise WSProtocolError(1009, "frame too big (%d bytes)" % n)
        key = None
        if masked:
            if len(buf) < pos + 4:
                return None
            key = bytes(buf[pos:pos + 4])
            pos += 4
        if len(buf) < pos + n:
            return None
        payload = bytes(buf[pos:pos + n])
        del buf[:pos + n]
        if key is not None:
            payload = apply_mask(payload, key)
        return Frame(fin, opcode, payload, masked)


class Message(object):
    """kind: 'text' | 'binary' | 'close'. For close: code (1005 when the
    frame had none, 1006 when the TCP connection ended without a close
    frame) and reason."""

    __slots__ = ("kind", "data", "code", "reason", "size")

    def __init__(self, kind, data=None, code=None, reason=""):
        self.kind = kind
        self.data = data
        self.code = code
        self.reason = reason
        self.size = len(data) if data is not None else 0

    def json(self):
        return json.loads(self.data)

    def __repr__(self):
        if self.kind == "close":
            return "<close %s %r>" % (self.code, self.reason)
        d = self.data if self.size < 200 else self.data[:200]
        return "<%s %r>" % (self.kind, d)


class WebSocket(object):
    """A connected WebSocket on a socket. Single-threaded use: recv() and the
    send methods must be called from one thread at a time (sends are
    serialised by a lock so a helper thread may send)."""

    def __init__(self, sock, is_client, leftover=b"", max_message=64 << 20):
        self.sock = sock
        self.is_client = is_client
        self.decoder = FrameDecoder(require_mask=not is_client,
                                    max_payload=max_message)
        self.decoder.feed(leftover)
        self.max_message = max_message
        self.send_lock = threading.Lock()
        self.close_sent = False
        self.close_received = False
        self.close_code = None
        self.close_reason = ""
        self.eof = False
        self.frag_op = None
        self.frag_parts = []
        self.frag_size = 0
        self.pings_received = 0
        self.pongs_received = 0
        self.send_timeout = 30.0

    # -- sending ---------------------------------------------------------

    def send_frame(self, opcode, payload=b"", fin=True):
        data = encode_frame(opcode, payload, fin=fin, mask=self.is_client)
        self.send_raw(data)

    def send_raw(self, data):
        with self.send_lock:
            self.sock.settimeout(self.send_timeout)
            self.sock.sendall(data)

    def send_text(self, text):
        self.send_frame(OP_TEXT, text.encode("utf-8"))

    def send_binary(self, data):
        self.send_frame(OP_BINARY, data)

    def send_json(self, obj):
        self.send_text(json.dumps(obj, separators=(",", ":"),
                                  ensure_ascii=False))

    def ping(self, payload=b""):
        self.send_frame(OP_PING, payload)

    def send_close(self, code=1000, reason=""):
        if self.close_sent:
            return
        self.close_sent = True
        try:
            self.send_frame(OP_CLOSE, close_payload(code, reason))
        except OSError:
            pass

    # -- receiving -------------------------------------------------------

    def _fill(self, deadline):
        """Read more bytes. False on timeout; sets eof on end of stream."""
        if deadline is None:
            self.sock.settimeout(None)
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            data = b""
        except ssl.SSLError:
            data = b""
        if not data:
            self.eof = True
            return True
        self.decoder.feed(data)
        return True

    def recv(self, timeout=None):
        """Next data message or close event, or None on timeout.

        Pings are answered, pongs counted. A protocol error sends the fitting
        close frame and raises WSProtocolError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.close_received:
                return Message("close", code=self.close_code,
                               reason=self.close_reason)
            try:
                frame = self.decoder.next()
            except WSProtocolError as e:
                self.send_close(e.code, e.reason)
                raise
            if frame is None:
                if self.eof:
                    return Message("close", code=1006, reason="")
                if not self._fill(deadline):
                    return None
                continue
            msg = self._handle_frame(frame)
            if msg is not None:
                return msg

    def _handle_frame(self, frame):
        op = frame.opcode
        if op == OP_PING:
            self.pings_received += 1
            if not self.close_sent:
                try:
                    self.send_frame(OP_PONG, frame.payload)
                except OSError:
                    pass
            return None
        if op == OP_PONG:
            self.pongs_received += 1
            return None
        if op == OP_CLOSE:
            p = frame.payload
            if len(p) == 1:
                self._fail(1002, "close frame with 1-byte payload")
            code = 1005
            reason = ""
            if len(p) >= 2:
                code = struct.unpack("!H", p[:2])[0]
                if (code < 1000 or code in (1004, 1005, 1006, 1015)
                        or 1016 <= code <= 2999 or code >= 5000):
                    self._fail(1002, "invalid close code %d" % code)
                try:
                    reason = p[2:].decode("utf-8")
                except UnicodeDecodeError:
                    self._fail(1007, "close reason not UTF-8")
            self.close_received = True
            self.close_code = code
            self.close_reason = reason
            # echo the close (RFC 6455 5.5.1)
            self.send_close(1000 if code == 1005 else code)
            return Message("close", code=code, reason=reason)
        # data frames
        if op == OP_CONT:
            if self.frag_op is None:
                self._fail(1002, "continuation without start")
        else:
            if self.frag_op is not None:
                self._fail(1002, "new message inside fragmented message")
            self.frag_op = op
            self.frag_parts = []
            self.frag_size = 0
        self.frag_parts.append(frame.payload)
        self.frag_size += len(frame.payload)
        if self.frag_size > self.max_message:
            self._fail(1009, "message too big")
        if not frame.fin:
            return None
        data = b"".join(self.frag_parts)
        kind_op = self.frag_op
        self.frag_op = None
        self.frag_parts = []
        self.frag_size = 0
        if kind_op == OP_TEXT:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                self._fail(1007, "text message not UTF-8")
            return Message("text", text)
        return Message("binary", data)

    def _fail(self, code, reason):
        self.send_close(code, reason)
        raise WSProtocolError(code, reason)

    def recv_json(self, timeout=None):
        """Next text message parsed as JSON; None on timeout; raises
        EOFError on close."""
        m = self.recv(timeout)
        if m is None:
            return None
        if m.kind == "close":
            raise EOFError("closed %s %s" % (m.code, m.reason))
        return json.loads(m.data)

    def recv_until(self, msg_type, timeout=10.0):
        """Read messages until one whose JSON "type" is msg_type. Returns
        (that message or None, list of every message read)."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            m = self.recv(max(0.0, deadline - time.monotonic()))
            if m is None:
                return None, seen
            seen.append(m)
            if m.kind == "close":
                return None, seen
            if m.kind == "text":
                try:
                    obj = json.loads(m.data)
                except ValueError:
                    continue
                if isinstance(obj, dict) and obj.get("type") == msg_type:
                    return obj, seen

    def close(self, code=1000, reason="", timeout=5.0):
        """Close handshake: send close, read until the peer's close (or
        timeout), then close the socket. Returns the messages read while
        waiting (the last is the close event when one came)."""
        seen = []
        self.send_close(code, reason)
        deadline = time.monotonic() + timeout
        while not self.close_received and not self.eof:
            try:
                m = self.recv(max(0.0, deadline - time.monotonic()))
            except (WSProtocolError, OSError):
                break
            if m is None:
                break
            seen.append(m)
            if m.kind == "close":
                break
        self.shutdown()
        return seen

    def abort(self, rst=False):
        """Drop the TCP connection without a close frame."""
        if rst:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            except OSError:
                pass
        try:
            self.sock.close()
        except OSError:
            pass

    def shutdown(self):
        close_socket(self.sock)


def close_socket(sock):
    """Shut down and close, whatever state the socket is in."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def read_http_head(sock, deadline, limit=65536):
    """Read up to the blank line. Returns (head bytes, leftover bytes)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out reading response head")
        sock.settimeout(left)
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed during handshake "
                                  "(%d bytes read)" % len(buf))
        buf += data
        if len(buf) > limit and b"\r\n\r\n" not in buf:
            raise WSProtocolError(1002, "response head too large")
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def parse_head(head):
    lines = head.decode("iso-8859-1").split("\r\n")
    status_line = lines[0]
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and headers:
            k, v = headers[-1]
            headers[-1] = (k, v + " " + line.strip())
            continue
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return status_line, headers


def headers_dict(headers):
    d = {}
    for k, v in headers:
        k = k.lower()
        d[k] = d[k] + ", " + v if k in d else v
    return d


def read_body(sock, hdrs, leftover, deadline, limit=1 << 20):
    """Body of a non-101 handshake answer: Content-Length, chunked, or up to
    EOF; bounded by limit and deadline (a partial body is returned)."""
    buf = leftover

    def more():
        left = deadline - time.monotonic()
        if left <= 0:
            return b""
        sock.settimeout(left)
        try:
            return sock.recv(65536)
        except (socket.timeout, OSError):
            return b""

    if "content-length" in hdrs:
        try:
            n = int(hdrs["content-length"])
        except ValueError:
            n = 0
        n = min(n, limit)
        while len(buf) < n:
            d = more()
            if not d:
                break
            buf += d
        return buf[:n]
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        out = b""
        while True:
            while b"\r\n" not in buf:
                d = more()
                if not d:
                    return out
                buf += d
            line, _, buf = buf.partition(b"\r\n")
            try:
                size = int(line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                return out
            if size == 0:
                return out
            while len(buf) < size + 2:
                d = more()
                if not d:
                    return out + buf[:size]
                buf += d
            out += buf[:size]
            buf = buf[size + 2:]
            if len(out) > limit:
                return out[:limit]
    while len(buf) < limit:
        d = more()
        if not d:
            break
        buf += d
    return buf[:limit]


class WSClient(WebSocket):
    """Client side. Use WSClient.connect(); when the server refuses the
    upgrade, the returned object has .open False, .status and .body set and
    no WebSocket methods may be used."""

    @classmethod
    def connect(cls, url, headers=None, timeout=10.0, insecure=False,
                max_message=64 << 20, sock=None):
        """sock: a socket already connected to the URL's host and port
        (e.g. one whose local port the caller noted), else a new one."""
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("ws", "wss"):
            raise ValueError("URL scheme must be ws or wss: %s" % url)
        host = u.hostname
        port = u.port or (443 if u.scheme == "wss" else 80)
        target = u.path or "/"
        if u.query:
            target += "?" + u.query
        deadline = time.monotonic() + timeout
        if sock is None:
            sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if u.scheme == "wss":
            ctx = ssl.create_default_context()
            if insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname=host)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        extra = list(headers or [])
        names = set(k.lower() for k, _ in extra)
        default_port = 443 if u.scheme == "wss" else 80
        hosthdr = host if port == default_port else "%s:%d" % (host, port)
        if ":" in host and not host.startswith("["):
            hosthdr = "[%s]" % host if port == default_port \
                else "[%s]:%d" % (host, port)
        lines = ["GET %s HTTP/1.1" % target]
        if "host" not in names:
            lines.append("Host: %s" % hosthdr)
        lines += ["Upgrade: websocket", "Connection: Upgrade",
                  "Sec-WebSocket-Key: %s" % key,
                  "Sec-WebSocket-Version: 13"]
        for k, v in extra:
            lines.append("%s: %s" % (k, v))
        req = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        sock.sendall(req)
        head, rest = read_http_head(sock, deadline)
        status_line, hlist = parse_head(head)
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            sock.close()
            raise WSProtocolError(1002, "bad status line %r" % status_line)
        status = int(parts[1])
        hdrs = headers_dict(hlist)
        if status != 101:
            body = read_body(sock, hdrs, rest, deadline)
            sock.close()
            self = cls.__new__(cls)
            self.open = False
            self.status = status
            self.status_line = status_line
            self.headers = hdrs
            self.header_list = hlist
            self.body = body
            self.sock = None
            return self
        if hdrs.get("upgrade", "").lower() != "websocket":
            sock.close()
            raise WSProtocolError(1002, "101 without Upgrade: websocket")
        if "upgrade" not in hdrs.get("connection", "").lower():
            sock.close()
            raise WSProtocolError(1002, "101 without Connection: Upgrade")
        if hdrs.get("sec-websocket-accept") != accept_key(key):
            sock.close()
            raise WSProtocolError(1002, "wrong Sec-WebSocket-Accept")
        self = cls(sock, is_client=True, leftover=rest,
                   max_message=max_message)
        self.open = True
        self.status = status
        self.status_line = status_line
        self.headers = hdrs
        self.header_list = hlist
        self.body = b""
        return self


# ---------------------------------------------------------------------------
# CLI

class _Ordered(argparse.Action):
    """Keeps --send, --send-binary, --send-big and --sleep-ms in the order
    they were given."""

    def __call__(self, parser, ns, values, option_string=None):
        seq = list(getattr(ns, "actions", None) or [])
        seq.append((self.const, values))
        ns.actions = seq


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":"),
                                ensure_ascii=False) + "\n")
    sys.stdout.flush()


def message_event(m, max_print):
    if m.kind == "close":
        ev = {"event": "close", "code": m.code, "reason": m.reason}
        if m.code == 1006:
            ev["abnormal"] = True
        return ev
    ev = {"event": "message", "kind": m.kind, "size": m.size}
    if m.kind == "binary":
        if m.size <= max_print:
            ev["data_b64"] = base64.b64encode(m.data).decode("ascii")
        else:
            ev["truncated"] = True
        return ev
    obj = None
    try:
        obj = json.loads(m.data)
        if isinstance(obj, dict) and isinstance(obj.get("type"), str):
            ev["type"] = obj["type"]
    except ValueError:
        ev["json"] = False
    if m.size > max_print:
        ev["truncated"] = True
        ev["data"] = None
    else:
        ev["data"] = obj if "json" not in ev else m.data
    return ev


def cli(argv=None):
    p = argparse.ArgumentParser(
        description="WebSocket test client: prints one JSON line per event.")
    p.add_argument("url", help="ws://host:port/path or wss://...")
    p.add_argument("--header", action="append", default=[],
                   help="extra request header 'Name: value' (repeatable)")
    p.add_argument("--send", action=_Ordered, const="text", dest="actions",
                   help="send this text (usually JSON) message (repeatable)")
    p.add_argument("--send-binary", action=_Ordered, const="binary",
                   dest="actions", help="send a binary message (base64)")
    p.add_argument("--send-big", action=_Ordered, const="big", dest="actions",
                   type=int, help="send a JSON text message of about N bytes")
    p.add_argument("--sleep-ms", action=_Ordered, const="sleep",
                   dest="actions", type=int,
                   help="pause N ms between sends (reading meanwhile)")
    p.add_argument("--send-wait", action="store_true",
                   help="after each send wait for a reply that is not a "
                        "queue notice (queued/queue_update/queue_done)")
    p.add_argument("--expect-close", action="store_true",
                   help="after the sends, wait for the server to close")
    p.add_argument("--hold-ms", type=int, default=0,
                   help="keep the connection open N ms after the sends, "
                        "printing what arrives")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds for connect/handshake and for each wait")
    p.add_argument("--insecure", action="store_true",
                   help="wss: do not verify the certificate")
    p.add_argument("--close-code", type=int, default=1000,
                   help="close code the client sends at the end")
    p.add_argument("--abort", action="store_true",
                   help="at the end drop TCP without a close frame")
    p.add_argument("--max-print", type=int, default=1 << 16,
                   help="messages larger than this print without data")
    p.set_defaults(actions=[])
    a = p.parse_args(argv)

    hdrs = []
    for h in a.header:
        k, sep, v = h.partition(":")
        if not sep:
            p.error("bad --header %r (want 'Name: value')" % h)
        hdrs.append((k.strip(), v.strip()))

    try:
        c = WSClient.connect(a.url, headers=hdrs, timeout=a.timeout,
                             insecure=a.insecure)
    except WSProtocolError as e:
        emit({"event": "error", "error": "handshake: %s" % e.reason})
        return EXIT_PROTOCOL
    except (OSError, ValueError) as e:
        emit({"event": "error", "error": "connect: %s" % e})
        return EXIT_CONNECT

    if not c.open:
        emit({"event": "handshake", "status": c.status,
              "body": c.body.decode("utf-8", "replace"),
              "headers": c.headers})
        return EXIT_OK
    emit({"event": "handshake", "status": 101, "headers": c.headers})

    state = {"closed": False}

    def show(m):
        emit(message_event(m, a.max_print))
        if m.kind == "close":
            state["closed"] = True

    def read_for(seconds):
        deadline = time.monotonic() + seconds
        while not state["closed"]:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            m = c.recv(left)
            if m is None:
                return
            show(m)

    def wait_reply():
        deadline = time.monotonic() + a.timeout
        while not state["closed"]:
            m = c.recv(max(0.0, deadline - time.monotonic()))
            if m is None:
                emit({"event": "timeout", "waiting": "reply"})
                return False
            show(m)
            if m.kind == "text":
                try:
                    t = json.loads(m.data).get("type")
                except (ValueError, AttributeError):
                    t = None
                if t in QUEUE_NOTICES:
                    continue
            return True
        return True

    try:
        for kind, value in a.actions:
            if state["closed"]:
                break
            if kind == "sleep":
                read_for(value / 1000.0)
                continue
            if kind == "text":
                c.send_text(value)
            elif kind == "binary":
                c.send_binary(base64.b64decode(value))
            elif kind == "big":
                pad = max(0, value - 45)
                c.send_text('{"type":"audio_chunk","audio_base64":"%s"}'
                            % ("A" * pad))
            if a.send_wait and not wait_reply():
                c.abort()
                return EXIT_TIMEOUT
        if a.hold_ms > 0:
            read_for(a.hold_ms / 1000.0)
        if a.expect_close and not state["closed"]:
            read_for(a.timeout)
            if not state["closed"]:
                emit({"event": "timeout", "waiting": "close"})
                c.abort()
                return EXIT_TIMEOUT
        if a.abort:
            c.abort()
            emit({"event": "aborted"})
            return EXIT_OK
        if not state["closed"]:
            c.send_close(a.close_code)
            read_for(a.timeout)
            if not state["closed"]:
                emit({"event": "timeout", "waiting": "close reply"})
        c.shutdown()
    except WSProtocolError as e:
        emit({"event": "protocol_error", "code": e.code, "error": e.reason})
        c.abort()
        return EXIT_PROTOCOL
    except OSError as e:
        # the peer vanished while we were sending: report it like 1006
        emit({"event": "close", "code": 1006, "reason": "",
              "abnormal": True, "error": str(e)})
        c.abort()
        return EXIT_OK
    return EXIT_OK


if __name__ == "__main__":
    try:
        sys.exit(cli())
    except KeyboardInterrupt:
        sys.exit(130)
