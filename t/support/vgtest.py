"""
t/support/vgtest.py -- the library of our end-to-end test programs.

Owns what the t/*.t programs written in Python share: TAP output for
prove, starting and stopping a real nginx (master process and several
worker processes, reloads, kill -9 of a worker) with our module and a
configuration of the test's own, HTTP helpers, and fake inference workers.

Test::Nginx::Socket files cover one request at a time; these programs
cover what needs several processes, restarts and concurrency.  Everything
they create lives under var/e2e/<test name>/ and is removed on success.

Environment (set by ./build.sh test; defaults work from the repository):
  TEST_NGINX_BINARY        nginx binary (default /usr/sbin/nginx)
  TEST_NGINX_LOAD_MODULES  our module (default build/ngx_voicegw_module.so)
  TEST_NGINX_USE_VALGRIND  run nginx under valgrind memcheck
  TEST_NGINX_VALGRIND_REPORT  file that collects non-empty valgrind reports
"""

import atexit
import glob
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import traceback

ROOT = os.environ.get("VOICEGW_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NGINX = (os.environ.get("TEST_NGINX_WRAPPED_BINARY")
         or os.environ.get("TEST_NGINX_BINARY", "/usr/sbin/nginx"))
MODULES = os.environ.get("TEST_NGINX_LOAD_MODULES",
                         os.path.join(ROOT, "build", "ngx_voicegw_module.so"))
VALGRIND = bool(os.environ.get("TEST_NGINX_USE_VALGRIND"))
SLOW = 10.0 if VALGRIND else 1.0


# -- TAP ---------------------------------------------------------------------

class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.done_called = False

    def ok(self, cond, name):
        self.n += 1
        if not cond:
            self.failed += 1
        print("%sok %d - %s" % ("" if cond else "not ", self.n, name),
              flush=True)
        if not cond:
            here = os.path.abspath(__file__)
            frames = [f for f in traceback.extract_stack()
                      if os.path.abspath(f.filename) != here]
            if frames:
                self.diag("  Failed test '%s' at %s line %d." %
                          (name, os.path.basename(frames[-1].filename),
                           frames[-1].lineno))
        return cond

    def is_(self, got, expected, name):
        cond = got == expected
        self.ok(cond, name)
        if not cond:
            self.diag("         got: %r" % (got,))
            self.diag("    expected: %r" % (expected,))
        return cond

    def like(self, got, pattern, name):
        cond = got is not None and re.search(pattern, got) is not None
        self.ok(cond, name)
        if not cond:
            self.diag("    %r" % (got,))
            self.diag("    doesn't match %r" % (pattern,))
        return cond

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, file=sys.stderr, flush=True)

    def done(self):
        self.done_called = True
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed else 0


tap = Tap()
ok, is_, like, diag = tap.ok, tap.is_, tap.like, tap.diag


# -- processes ---------------------------------------------------------------

_cleanups = []


def at_cleanup(fn):
    _cleanups.append(fn)


def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception:                       # noqa: BLE001
            pass


atexit.register(_run_cleanups)


def _on_signal(signum, frame):
    _run_cleanups()
    sys.exit(1)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=5.0, interval=0.02):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is dead for our purposes
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def children(pid):
    out = []
    for d in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d.split("/")[2]))
        except (OSError, IndexError, ValueError):
            pass
    return sorted(out)


def stop_process(pid, timeout=5.0):
    """SIGSTOP to pid; whether it is stopped (state T) within timeout: it
    then runs no code, accepts no connection, until SIGCONT or SIGKILL."""
    os.kill(pid, signal.SIGSTOP)

    def state():
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return None
    return wait_for(lambda: state() in ("T", "t"), timeout=timeout)


def peer_ports(pid, port):
    """The client ports of the TCP connections that process pid holds on
    its local port "port" (the connections it accepted there), read from
    its descriptors and /proc/PID/net/tcp{,6}."""
    inodes = set()
    fds = "/proc/%d/fd" % pid
    for fd in os.listdir(fds):
        try:
            link = os.readlink(os.path.join(fds, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            rport = int(remote.rsplit(":", 1)[1], 16)
            if (inode in inodes and rport != 0
                    and int(local.rsplit(":", 1)[1], 16) == port):
                ports.add(rport)
    return ports


def sessions_conf(zone, folder, port, http=""):
    """The http{} lines of a gateway serving session folders: the zone,
    "voicegw_sessions FOLDER", the files location, JSON errors, the API
    on "/".  http: more lines for http{} ("voicegw_session_viewer ...",
    parameters after FOLDER start with a space)."""
    return """
    voicegw_zone            %(zone)s 4m;
    voicegw_sessions        %(folder)s;
    %(http)s

    error_page 400 403 404 405 413 416 500 /_voicegw_error;

    server {
        listen 127.0.0.1:%(port)d;

        location = /_voicegw_error { internal; voicegw_error; }

        location /_voicegw_sessions/ {
            voicegw_session_files;
            error_page 403 404 500 /_voicegw_error;
            error_page 301 =404 /_voicegw_error;
        }

        location / {
            voicegw_api service;
        }
    }
""" % dict(zone=zone, folder=folder, port=port, http=http)


def workdir(name):
    d = os.path.join(ROOT, "var", "e2e", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


# the flags of a driver's AddressSanitizer and UBSan build (t/050, t/074)
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]


def build_c(out, sources, includes, libs, extra=(), opt="-O1"):
    """Build a C test driver with -Wall -Werror: (built, compiler output)."""
    cmd = (["cc", opt, "-g", "-Wall", "-Werror"] + list(extra)
           + ["-I" + i for i in includes] + sources + libs + ["-o", out])
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    return r.returncode == 0, r.stdout


# -- nginx -------------------------------------------------------------------

class Nginx:
    """A real nginx with our module: master process plus workers."""

    def __init__(self, prefix, http_config, workers=2, main_config="",
                 events="worker_connections 1024;", log_level="info",
                 user=None):
        self.prefix = prefix
        # as Test::Nginx does: run as root, the worker processes stay root
        # (the checkout may sit in a folder nobody else can enter), unless
        # the test names a user
        if user is None and os.geteuid() == 0:
            user = "root"
        self.user = user
        self.workers = workers
        self.http_config = http_config
        self.main_config = main_config
        self.events = events
        self.log_level = log_level
        self.proc = None
        for d in ("conf", "logs", "tmp"):
            os.makedirs(os.path.join(prefix, d), exist_ok=True)
        self.write_conf()
        at_cleanup(self.kill)

    def write_conf(self, http_config=None):
        if http_config is not None:
            self.http_config = http_config
        loads = "".join("load_module %s;\n" % m for m in MODULES.split())
        conf = """%s
worker_processes %d;
pid logs/nginx.pid;
error_log logs/error.log %s;
%s%s
events { %s }
http {
    access_log logs/access.log;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
%s
}
""" % (loads, self.workers, self.log_level,
            "user %s;\n" % self.user if self.user else "", self.main_config,
            self.events, self.http_config)
        # whole or not at all: a master reloading meanwhile reads one or
        # the other, never half of it
        path = os.path.join(self.prefix, "conf", "nginx.conf")
        with open(path + ".new", "w") as f:
            f.write(conf)
        os.replace(path + ".new", path)

    def _cmd(self, *extra):
        cmd = [NGINX, "-p", self.prefix + "/", "-c", "conf/nginx.conf"]
        return cmd + list(extra)

    def test_config(self):
        """nginx -t: (exit code, output)."""
        p = subprocess.run(self._cmd("-t"), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        return p.returncode, p.stdout

    @property
    def pidfile(self):
        return os.path.join(self.prefix, "logs", "nginx.pid")

    def master_pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start(self, wait_ports=()):
        try:
            os.unlink(self.pidfile)
        except OSError:
            pass
        if VALGRIND:
            logs = os.path.join(self.prefix, "logs", "valgrind.%p.log")
            cmd = ["valgrind", "-q", "--tool=memcheck", "--leak-check=full",
                   "--keep-debuginfo=yes",
                   "--log-file=" + logs]
            supp = os.path.join(ROOT, "valgrind.suppress")
            if os.path.exists(supp):
                cmd.append("--suppressions=" + supp)
            cmd += self._cmd("-g", "daemon off;")
            self.proc = subprocess.Popen(cmd)
        else:
            subprocess.run(self._cmd(), check=True)
        if not wait_for(lambda: self.master_pid() and
                        len(children(self.master_pid())) >= self.workers,
                        timeout=10):
            raise RuntimeError("nginx did not start: " + self.error_log()[-2000:])
        for port in wait_ports:
            if not wait_for(lambda: port_open(port), timeout=10):
                raise RuntimeError("port %d does not answer" % port)
        return self

    def worker_pids(self):
        pid = self.master_pid()
        return children(pid) if pid else []

    def reload(self, http_config=None, timeout=10):
        """nginx -s reload; waits until a new set of workers runs."""
        if http_config is not None:
            self.write_conf(http_config)
        old = set(self.worker_pids())
        os.kill(self.master_pid(), signal.SIGHUP)

        def settled():
            now = set(self.worker_pids())
            return (len(now - old) >= self.workers and not (now & old))
        return wait_for(settled, timeout=timeout)

    def stop(self, sig=signal.SIGQUIT, timeout=10):
        pid = self.master_pid()
        if pid is None:
            return True
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        gone = wait_for(lambda: not pid_alive(pid), timeout=timeout)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=timeout * SLOW)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        self._collect_valgrind()
        return gone

    def kill(self):
        pid = self.master_pid()
        workers = self.worker_pids() if pid else []
        for p in ([pid] if pid else []) + workers:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        # a test that ends without stop() (its nginx killed at cleanup):
        # what memcheck said until then counts all the same
        self._collect_valgrind()

    def memory(self):
        """VmRSS and RssAnon (kB, from /proc/PID/status) of the worker
        processes, summed."""
        total = {"VmRSS": 0, "RssAnon": 0}
        for pid in self.worker_pids():
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        k, _, v = line.partition(":")
                        if k in total:
                            total[k] += int(v.split()[0])
            except OSError:
                pass
        return total

    def error_log(self):
        try:
            with open(os.path.join(self.prefix, "logs", "error.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alerts(self):
        """[alert] and [emerg] lines, and worker crashes."""
        return [l for l in self.error_log().splitlines()
                if "[alert]" in l or "[emerg]" in l or "[crit]" in l]

    def _collect_valgrind(self):
        report = os.environ.get("TEST_NGINX_VALGRIND_REPORT")
        for f in glob.glob(os.path.join(self.prefix, "logs",
                                        "valgrind.*.log")):
            with open(f, errors="replace") as fh:
                text = fh.read()
            if text.strip() and report:
                with open(report, "a") as out:
                    out.write("==== %s %s\n%s\n" % (sys.argv[0], f, text))
            os.unlink(f)


# -- HTTP --------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def request(method, port, path, body=None, headers=None, tls=False,
            timeout=10, host="127.0.0.1"):
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=timeout * SLOW,
                                           context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout * SLOW)
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def get(port, path, **kw):
    return request("GET", port, path, **kw)


def raw_request(port, data, tls=False, timeout=10, host="127.0.0.1",
                sock=None):
    """Bytes sent as they are (a request http.client would refuse to
    write); the answer read until the server closes: a Response, or None
    when it closed without one.  sock: a connection made before (plain),
    else a new one."""
    if sock is None:
        sock = socket.create_connection((host, port), timeout=timeout * SLOW)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    try:
        sock.sendall(data)
        got = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    finally:
        sock.close()
    head, sep, body = got.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if not sep or not m:
        return None
    return Response(int(m.group(1)), _headers(head), body)


def _headers(head):
    headers = []
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        headers.append((k.strip(), v.strip()))
    return headers


def responses(data):
    """The HTTP/1.1 answers one after another in data (what a connection
    that carried pipelined requests got), each body by its Content-Length
    or chunks; a last answer without either takes the rest.  Stops at the
    first thing that is not an answer."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        if not sep or not m:
            break
        r = Response(int(m.group(1)), _headers(head), b"")
        n = r.header("Content-Length")
        if n is not None:
            r.body, data = rest[:int(n)], rest[int(n):]
        elif (r.header("Transfer-Encoding") or "").lower() == "chunked":
            while True:
                size, _, rest = rest.partition(b"\r\n")
                size = int(size.split(b";")[0] or b"0", 16)
                r.body += rest[:size]
                rest = rest[size + 2:]
                if size == 0:
                    break
            data = rest
        else:
            r.body, data = rest, b""
        out.append(r)
    return out


def read_until_close(sock, timeout):
    """What the peer sends until it closes, or until timeout: (bytes,
    whether it closed)."""
    deadline = time.monotonic() + timeout
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got, False
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return got, False
        except OSError:
            return got, True
        if not data:
            return got, True
        got += data


class SlowClient(threading.Thread):
    """A client on its own thread (slowloris): "head" at once, then
    "drip" every "every" seconds (for ever, or "pieces" times) until the
    server answers or closes; then what came back (got), whether the
    server closed (closed), and when (t_closed, seconds after the start).
    With pieces=0 it sends "head" and reads: a request the server may
    answer before it has read it all."""

    def __init__(self, port, head, drip=b"", every=0.5, pieces=None,
                 timeout=30):
        threading.Thread.__init__(self, daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=10 * SLOW)
        at_cleanup(self.sock.close)
        self.head, self.drip, self.every = head, drip, every
        self.pieces, self.timeout = pieces, timeout * SLOW
        self.got, self.closed, self.t_closed = b"", False, None
        self.t0 = time.monotonic()

    def run(self):
        try:
            self.sock.sendall(self.head)
            n = 0
            while self.pieces is None or n < self.pieces:
                r, _, _ = select.select([self.sock], [], [], self.every)
                if r:
                    break
                self.sock.sendall(self.drip)
                n += 1
        except OSError:
            pass
        self.got, self.closed = read_until_close(self.sock, self.timeout)
        self.t_closed = time.monotonic() - self.t0
        self.sock.close()


def wait_steady(progress, still=1.0, timeout=15):
    """Waits until progress() has not changed for "still" seconds: its
    value (None if it never settled) and when it last changed
    (time.monotonic())."""
    last = [progress(), time.monotonic()]

    def steady():
        v = progress()
        if v != last[0]:
            last[0], last[1] = v, time.monotonic()
            return False
        return time.monotonic() - last[1] >= still
    done = wait_for(steady, timeout=timeout, interval=0.1)
    return (last[0] if done else None), last[1]


def metric(text, name, **labels):
    """The sum of the samples of a /v1/metrics family "name" (text format)
    whose labels include "labels"; None when there is none."""
    total = None
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % kv in line for kv in labels.items()):
            total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


def flusher_pid(log, since=0):
    """The nginx process that took the lease of committing the request
    records last, by the error log's text from offset "since" (its
    "[info] ... this process commits the request records now")."""
    found = re.findall(r"\[info\] (\d+)#\d+: voicegw: this process commits "
                       r"the request records now", log[since:])
    return int(found[-1]) if found else None


# -- a connection held to one nginx process ---------------------------------

class Conn:
    """A keep-alive connection whose nginx process we know (the server
    must answer GET /pid with $pid)."""

    def __init__(self, port, timeout=30):
        self.c = http.client.HTTPConnection("127.0.0.1", port,
                                            timeout=timeout)
        self.c.connect()

    def pid(self):
        self.c.request("GET", "/pid")
        r = self.c.getresponse()
        return int(r.read())

    def send(self, path, body):
        self.c.request("POST", path, body=json.dumps(body),
                       headers={"Content-Type": "application/json"})

    def response(self):
        r = self.c.getresponse()
        body = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body

    def close(self, rst=False):
        # shutdown() first: a thread blocked reading this socket would keep
        # a bare close() from sending the FIN
        try:
            if rst:
                self.c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            else:
                self.c.sock.shutdown(socket.SHUT_RDWR)
        except Exception:                       # noqa: BLE001
            pass
        try:
            self.c.sock.close()
        except Exception:                       # noqa: BLE001
            pass
        self.c.close()


def conn_in(port, pid):
    """A new connection accepted by the nginx process pid."""
    for _ in range(500):
        c = Conn(port)
        if c.pid() == pid:
            return c
        c.close()
    raise RuntimeError("no connection reached process %d" % pid)



# -- documented examples ------------------------------------------------------

def doc_blocks(text):
    """(language, body) of each fenced block of a Markdown text, in
    order."""
    return [(m.group(1), m.group(2))
            for m in re.finditer(r"^```(\w*)\n(.*?)^```\n", text,
                                 re.M | re.S)]


def doc_commands(sh):
    """The commands of a shell block: lines joined over trailing
    backslashes; comments and blank lines left out."""
    cmds, cur = [], ""
    for line in sh.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cmds.append(cur + line)
        cur = ""
    return cmds


def doc_run(cmd, port, out, env=None, cwd=None):
    """A documented command run by bash, http://localhost:8080 pointed at
    port, curl writing the answer's body to the file out and printing its
    status: (returncode, status, body, stderr)."""
    cmd = cmd.replace("http://localhost:8080", "http://127.0.0.1:%d" % port)
    script = ('curl() { command curl -sS -o %s -w "%%{http_code}" "$@"; }\n'
              % out) + cmd
    p = subprocess.run(["bash", "-c", script], env=env, cwd=cwd, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    try:
        with open(out, errors="replace") as f:
            body = f.read()
    except OSError:
        body = ""
    return p.returncode, p.stdout.strip(), body, p.stderr.strip()


# -- fake providers ----------------------------------------------------------

def secret_key(d):
    """A fresh voicegw_secret key file (32 random bytes, mode 0600) in the
    test's work folder "d"; its path."""
    path = os.path.join(d, "secret.key")
    with open(path, "wb") as f:
        f.write(os.urandom(32))
    os.chmod(path, 0o600)
    return path


class FakeProvider:
    """t/support/fake_provider.py in its own process: it checks the key,
    and records every request it sees (one JSON line each) in a file of
    the test's work folder "d"; on "port" when given, else on a free one."""

    script = "fake_provider.py"
    record_name = "seen-%d.jsonl"

    def __init__(self, d, key, *args, port=None):
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.record = os.path.join(d, self.record_name % self.port)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "t", "support",
                                          self.script),
             "--port", str(self.port), "--key", key,
             "--record", self.record] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        self.proc.stdout.readline()           # "ready"
        at_cleanup(self.stop)

    def seen(self):
        try:
            with open(self.record) as f:
                return [json.loads(line) for line in f]
        except OSError:
            return []

    def carrying(self, key):
        """The recorded requests with the key in any header."""
        return [s for s in self.seen()
                if any(key in v for v in s["headers"].values())]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()

class FakeWSProvider(FakeProvider):
    """t/support/fake_ws_provider.py in its own process: the WebSocket
    routes of the cloud providers (Deepgram live STT and speak, ElevenLabs
    stream-input, Cartesia, AssemblyAI v3, OpenAI Realtime).  It checks the
    key, and records every session (and refused handshake) it sees, one
    JSON line each when it ends, in a file of the test's work folder "d";
    on "port" when given, else on a free one.  args: more options
    ("--selector", "--tls", CERT, KEY).  seen(): sessions ("status": 101)
    and refused handshakes ("status": 401, 403, ...; "ended_by":
    "rejected")."""

    script = "fake_ws_provider.py"
    record_name = "ws-seen-%d.jsonl"

    def __init__(self, d, key, *args, port=None):
        FakeProvider.__init__(self, d, key, *args, port=port)
        self.ws_url = "ws://127.0.0.1:%d" % self.port

    def sessions(self):
        """The recorded sessions that got their 101."""
        return [s for s in self.seen() if s["status"] == 101]

    def wait_seen(self, n, timeout=5.0):
        """The recorded lines once there are at least n (a session is
        written when it ends), or what there is after timeout."""
        wait_for(lambda: len(self.seen()) >= n, timeout=timeout)
        return self.seen()


# -- fake inference workers --------------------------------------------------

class FakeWorker:
    def __init__(self, directory, port=None, args=()):
        self.port = port or free_port()
        self.pidfile = os.path.join(directory, "worker-%d.pid" % self.port)
        self.args = list(args)
        self.pid = None
        at_cleanup(self.stop)

    def start(self):
        try:
            os.unlink(self.pidfile)
        except OSError:
            pass
        subprocess.Popen([sys.executable,
                          os.path.join(ROOT, "t", "support", "fake_worker.py"),
                          "--port", str(self.port), "--pidfile", self.pidfile]
                         + self.args, stdin=subprocess.DEVNULL)
        if not wait_for(lambda: os.path.exists(self.pidfile), timeout=10):
            raise RuntimeError("fake worker on %d did not start" % self.port)
        with open(self.pidfile) as f:
            self.pid = int(f.read().strip())
        return self

    def stats(self, tasks=False):
        """/_fake/stats; with tasks=True also the list of every task."""
        return get(self.port, "/_fake/stats"
                   + ("" if tasks else "?tasks=0")).json()

    def served(self, names):
        """The tasks named in names, in the order the fake started them."""
        return [t["last_message"]
                for t in sorted(self.stats(tasks=True)["tasks"],
                                key=lambda t: t["start"])
                if t["last_message"] in names]

    def task(self, name):
        """The fake's record of the task whose last message was name."""
        for t in self.stats(tasks=True)["tasks"]:
            if t["last_message"] == name:
                return t
        return None

    def control(self, **knobs):
        return request("POST", self.port, "/_fake/control", body=knobs)

    def stop(self):
        pid, self.pid = self.pid, None
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            if not wait_for(lambda: not pid_alive(pid), timeout=5):
                os.kill(pid, signal.SIGKILL)
                raise RuntimeError("fake worker on %d (pid %d) did not exit "
                                   "on SIGTERM within 5 s" % (self.port, pid))


class StallingWorker:
    """A pool worker whose connect can be held: it answers GET /health
    (idle) while it accepts; stall() stops accepting and fills its accept
    queue (backlog 0), so that the kernel drops the next SYN and a
    connect to it waits (nginx: proxy_connect_timeout); resume() accepts
    again."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.accepting = threading.Event()
        self.accepting.set()
        self.fillers = []
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()
        at_cleanup(self.stop)

    def _serve(self):
        while not self.stopped:
            if not self.accepting.wait(0.05):
                continue
            r, _, _ = select.select([self.sock], [], [], 0.05)
            if not r or not self.accepting.is_set():
                continue
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._health, args=(c,),
                             daemon=True).start()

    def _health(self, c):
        body = b'{"status":"healthy","worker_status":"idle"}'
        try:
            c.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                data = c.recv(4096)
                if not data:
                    break
                head += data
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json"
                      b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                      b"%s" % (len(body), body))
        except OSError:
            pass
        c.close()

    def stall(self):
        self.accepting.clear()
        time.sleep(0.2)             # deliberately: the accept loop stops
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(s)

    def resume(self):
        for s in self.fillers:
            s.close()
        self.fillers = []
        self.accepting.set()

    def stop(self):
        self.stopped = True
        self.resume()
        self.sock.close()


def finished(threads, timeout=20):
    """Joins the client threads; whether all of them ended."""
    for t in threads:
        t.join(timeout)
    return all(not t.is_alive() for t in threads)


def never_two(fake):
    """Whether the fake worker (a FakeWorker, or the /_fake/stats with its
    tasks of one, e.g. taken before it was killed) never ran two tasks at
    once, with no slack:
    on the fake's monotonic clock, the connection of every task was
    accepted at or after the close of every earlier task (the first of:
    its end booked, its connection seen closed by the fake; see
    Task.interval in fake_worker.py).
    Every overlap is shown; so is, when the fake's own count of running
    tasks (max_concurrent) reached 2, how close the intervals came."""
    s = fake if isinstance(fake, dict) else fake.stats(tasks=True)
    port = s["port"]
    ts = sorted(s["tasks"], key=lambda t: t["accepted"])
    bad = 0
    for i, a in enumerate(ts):
        for b in ts[i + 1:]:
            if a["closed"] is not None and b["accepted"] >= a["closed"]:
                break
            bad += 1
            diag("fake %d: task %d %s (%s, accepted %.6f, closed %s by %s) "
                 "overlaps task %d %s (%s, accepted %.6f) by %s ms: DOUBLE "
                 "BOOKING" %
                 (port, a["id"], a["last_message"], a["status"],
                  a["accepted"], "%.6f" % a["closed"] if a["closed"]
                  is not None else "-", a["closed_by"], b["id"],
                  b["last_message"], b["status"], b["accepted"],
                  "%.3f" % ((a["closed"] - b["accepted"]) * 1000)
                  if a["closed"] is not None else "(still open)"))
    if s["max_concurrent"] > 1 and not bad:
        gaps = [b["accepted"] - a["closed"] for a, b in zip(ts, ts[1:])]
        diag("fake %d: max_concurrent %d (a task's thread booked its end "
             "after the next connection came), but the exact intervals do "
             "not overlap: closest %.3f ms apart; closes seen by the "
             "accept loop: %d" % (port, s["max_concurrent"],
                                  min(gaps) * 1000,
                                  sum(t["closed_by"] ==
                                      "seen closed by the accept loop"
                                      for t in ts)))
    return bad == 0
