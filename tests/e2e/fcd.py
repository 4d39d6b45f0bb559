"""Helpers for end-to-end tests: start a real fcd on a free loopback port,
speak raw HTTP to it, and read its log."""
import json
import os
import re
import resource
import signal
import socket
import subprocess
import tempfile
import time

FCD = os.environ.get("FCD", "build/cc/fcd")
# Sanitizer builds run slower: upper bounds on waits are multiplied by SLOW
# (lower bounds never are).
SLOW = float(os.environ.get("E2E_SLOW", "4" if "thread" in FCD else
                            "2" if "address" in FCD else "1"))

# What a sanitizer build writes to stderr (the log) when it finds a bug.
SANITIZER_MARKS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:",
                   b"WARNING: ThreadSanitizer")


def sanitizer_report(log):
    """The first sanitizer report in a log (bytes), from its marker on, or None."""
    hits = [log.find(m) for m in SANITIZER_MARKS if m in log]
    return log[min(hits):min(hits) + 4000].decode(errors="replace") if hits else None


def check_log_clean(path):
    """Fail (AssertionError) when the log file at path holds a sanitizer report."""
    with open(path, "rb") as f:
        report = sanitizer_report(f.read())
    assert report is None, "sanitizer report in %s:\n%s" % (path, report)


class Conn(socket.socket):
    """A client socket that keeps bytes read past a response (pipelining)."""
    _fcd_buf = b""


class Fcd:
    """A running fcd in the foreground on 127.0.0.1 (port chosen by the
    kernel). Use as a context manager; stop() sends SIGTERM and returns the
    exit status. Extra flags go in `args`, an optional JSON config text in
    `config` (written to self.config_path), another loopback address in
    `host` ("::1" for IPv6). unprivileged=True runs it as nobody when the
    tests run as root (no cgroups then, as for any user's own fcd). Leaving
    the context (and stop()) fails the test when the log holds a sanitizer
    report."""

    def __init__(self, args=(), config=None, io_threads=1, host="127.0.0.1",
                 unprivileged=False):
        self.dir = tempfile.mkdtemp(prefix="fcd-e2e-")
        self.log_path = os.path.join(self.dir, "fcd.log")
        self.host = host
        listen = "[%s]:0" % host if ":" in host else "%s:0" % host
        cmd = [FCD, "--foreground", "--listen", listen, "--data-dir",
               os.path.join(self.dir, "data"), "--io-threads", str(io_threads)]
        if unprivileged and os.geteuid() == 0:
            os.chown(self.dir, 65534, 65534)
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
        self.config_path = os.path.join(self.dir, "fcd.json")
        if config is not None:
            with open(self.config_path, "w") as f:
                f.write(config)
            cmd += ["--config", self.config_path]
        cmd += list(args)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = self._wait_port()

    def _wait_port(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            host = ("[%s]" % self.host if ":" in self.host else self.host).encode()
            m = re.search(rb"listening on " + re.escape(host) + rb":(\d+)", self.read_log())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError("fcd exited: " + self.read_log().decode(errors="replace"))
            time.sleep(0.01)
        raise RuntimeError("fcd did not start")

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    def connect(self, timeout=10.0):
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(fileno=s.detach())
        conn.settimeout(timeout)
        return conn

    def signal(self, sig):
        self.proc.send_signal(sig)

    def fd_count(self):
        """Open file descriptors of the fcd process (from /proc)."""
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def stop(self, timeout=15.0, sig=None):
        """Send sig (default SIGTERM), wait for the exit and return its status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM if sig is None else sig)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        check_log_clean(self.log_path)
        return status

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if exc_type is None:
            check_log_clean(self.log_path)
        else:  # keep the test's own failure, but still show a report
            report = sanitizer_report(self.read_log())
            if report:
                print("# sanitizer report in %s:\n%s" % (self.log_path, report))


def read_response(sock, head_only=False):
    """Read one HTTP response (Content-Length framed) from sock; returns
    (status, headers dict with lower-case names, body bytes). Leftover bytes
    stay in sock._fcd_buf for the next call."""
    buf = sock._fcd_buf
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response head: %r" % buf)
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    # Strict, so stray bytes before a response (a body where none belongs)
    # are caught.
    m = re.fullmatch(r"HTTP/1\.1 (\d{3}) [^\r\n]*", lines[0])
    if m is None:
        raise AssertionError("bad status line %r" % lines[0])
    status = int(m.group(1))
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = 0 if head_only or status in (100, 204, 304) else int(headers.get("content-length", 0))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in a response body")
        rest += chunk
    sock._fcd_buf = rest[length:]
    return status, headers, rest[:length]


def request(fcd, raw, timeout=10.0):
    """Send raw bytes on a new connection and read one response."""
    with fcd.connect(timeout) as s:
        s.sendall(raw)
        return read_response(s)


def is_closed(sock, timeout=5.0):
    """True when the peer closes the connection (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def read_until_close(sock, timeout=5.0, limit=1 << 20):
    """Bytes the peer sends until it closes (EOF or reset) within timeout;
    raises AssertionError when it stays open or sends more than limit."""
    data, deadline = sock._fcd_buf, time.monotonic() + timeout
    sock._fcd_buf = b""
    try:
        while len(data) <= limit:
            left = deadline - time.monotonic()
            assert left > 0, "connection still open after %.1f s" % timeout
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return data
    except socket.timeout:
        raise AssertionError("connection still open after %.1f s" % timeout)
    raise AssertionError("more than %d bytes before close" % limit)


def nothing_pending(sock, wait=0.2):
    """True when no bytes arrive (and the connection is not closed) within wait."""
    if sock._fcd_buf:
        return False
    sock.settimeout(wait)
    try:
        sock.recv(1, socket.MSG_PEEK)  # data, or b"" at EOF
        return False
    except socket.timeout:
        return True
    except (ConnectionResetError, BrokenPipeError):
        return False


def check_error(status, headers, body, want_status, want_code):
    """Assert an FC JSON error response (CONTRACT.md 2.4); returns the body."""
    assert status == want_status, (status, body)
    assert headers.get("content-type") == "application/json", headers
    err = json.loads(body)
    assert err["ErrorCode"] == err["Code"] == want_code, err
    assert err["ErrorMessage"] == err["Message"] and err["ErrorMessage"], err
    assert err["RequestId"] == headers["x-fc-request-id"], (err, headers)
    assert len(err["RequestId"]) == 36, err
    assert int(headers["content-length"]) == len(body), headers
    return err


def raise_nofile(want):
    """Raise this process's RLIMIT_NOFILE soft limit towards want (the hard
    limit bounds it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def wait_for(pred, timeout, step=0.02):
    """Poll pred() until it returns true or timeout seconds pass; returns
    its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


# ---- invocation helpers (test_invoke.py, test_runtimes.py) -------------------------

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def invoke_raw(fn, event=b"", service="default", headers=()):
    """The raw bytes of a sync InvokeFunction request."""
    body = event.encode() if isinstance(event, str) else event
    head = "POST /2016-08-15/services/%s/functions/%s/invocations HTTP/1.1\r\nHost: x\r\n" \
           "Content-Length: %d\r\n" % (service, fn, len(body))
    head += "".join("%s: %s\r\n" % kv for kv in headers)
    return head.encode() + b"\r\n" + body


def invoke(fcd, fn, event=b"", service="default", headers=(), timeout=10.0):
    """One sync InvokeFunction call on a new connection: (status, headers, body)."""
    return request(fcd, invoke_raw(fn, event, service, headers), timeout * SLOW)


def function_log_path(fcd, fn, service="default"):
    """The per-function log file fcd writes instance output to."""
    return os.path.join(fcd.dir, "data", "logs", service, fn + ".log")


def read_text(path):
    """A file's text, or "" when it does not exist (yet)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def pids_with_env(name, value):
    """Pids of live processes whose environment holds name=value (from /proc)."""
    want = ("%s=%s" % (name, value)).encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read().split(b"\0")
            with open("/proc/%s/stat" % d, "rb") as f:
                state = f.read().rpartition(b")")[2].split()[0]
        except OSError:
            continue
        if want in env and state != b"Z":
            pids.append(int(d))
    return pids


# ---- async invocation and task helpers (test_async.py) -----------------------------

def async_invoke(fcd, fn, event=b"", service="default", headers=(), timeout=10.0):
    """One InvokeFunction with X-Fc-Invocation-Type: Async: (status, headers, body)."""
    return invoke(fcd, fn, event, service, (("X-Fc-Invocation-Type", "Async"),) + tuple(headers),
                  timeout)


def task_request(fcd, method, fn, task_id="", query="", service="default", timeout=10.0):
    """A task API call (CONTRACT.md §5.6) on a new connection: (status, headers,
    parsed JSON body or the raw bytes when it is not JSON)."""
    target = "/2016-08-15/services/%s/functions/%s/stateful-async-invocations" % (service, fn)
    if task_id:
        target += "/" + task_id
    if query:
        target += "?" + query
    raw = ("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % (method, target)).encode()
    st, h, body = request(fcd, raw, timeout * SLOW)
    try:
        return st, h, json.loads(body) if body else None
    except ValueError:
        return st, h, body


def task_get(fcd, fn, task_id, service="default"):
    """(status, task JSON) of GET .../stateful-async-invocations/{id}."""
    st, _, doc = task_request(fcd, "GET", fn, task_id, service=service)
    return st, doc


def wait_task(fcd, fn, task_id, states, timeout, service="default"):
    """Poll a task until its status is one of states (a str or a tuple) or
    timeout (scaled by SLOW) passes; returns the last task JSON (or None)."""
    states = (states,) if isinstance(states, str) else tuple(states)
    last = [None]

    def done():
        st, doc = task_get(fcd, fn, task_id, service)
        if st == 200:
            last[0] = doc
        return st == 200 and doc["status"] in states
    wait_for(done, timeout * SLOW, 0.05)
    return last[0]


def log_time_s(stamp):
    """Epoch seconds of a function log time stamp such as 2026-12-02T01:42:10.904Z."""
    import calendar
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z", stamp)
    assert m, stamp
    whole = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    frac = m.group(7) or "0"
    return whole + int(frac) / 10 ** len(frac)


def invoke_log_lines(text, what="Start", task_id=None):
    """(time s, instance id, request id, rest) of each "FC Invoke <what>
    RequestId: <id>" line of a function log (optionally only task_id's)."""
    out = []
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4:
            continue
        m = re.match(r"FC Invoke %s RequestId: ([^\s,]+)(.*)" % what, parts[3])
        if m is None or (task_id is not None and m.group(1) != task_id):
            continue
        out.append((log_time_s(parts[0]), parts[2], m.group(1), m.group(2)))
    return out
