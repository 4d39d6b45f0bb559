"""Helpers for end-to-end tests: start a real fcd on a free loopback port,
speak raw HTTP to it, and read its log."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

FCD = os.environ.get("FCD", "build/cc/fcd")


class Conn(socket.socket):
    """A client socket that keeps bytes read past a response (pipelining)."""
    _fcd_buf = b""


class Fcd:
    """A running fcd in the foreground on 127.0.0.1 (port chosen by the
    kernel). Use as a context manager; stop() sends SIGTERM and returns the
    exit status. Extra flags go in `args`, an optional JSON config text in
    `config`."""

    def __init__(self, args=(), config=None, io_threads=1):
        self.dir = tempfile.mkdtemp(prefix="fcd-e2e-")
        self.log_path = os.path.join(self.dir, "fcd.log")
        cmd = [FCD, "--foreground", "--listen", "127.0.0.1:0", "--data-dir",
               os.path.join(self.dir, "data"), "--io-threads", str(io_threads)]
        if config is not None:
            path = os.path.join(self.dir, "fcd.json")
            with open(path, "w") as f:
                f.write(config)
            cmd += ["--config", path]
        cmd += list(args)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = self._wait_port()

    def _wait_port(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", self.read_log())
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
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(fileno=s.detach())
        conn.settimeout(timeout)
        return conn

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


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
    status = int(lines[0].split(" ")[1])
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
