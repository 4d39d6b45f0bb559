"""Every example runtime end to end (issue 4, "Semantics"): InvokeFunction
(event in, "hello, <event>" out, FC's response headers, warm reuse), function
errors (x-fc-status 404), the instance environment, and the HTTP trigger
(method, full path, query, headers, body, client IP, x-fc-base-path in; status,
multi-value Set-Cookie, HEAD, a 1 MB body, no hop-by-hop headers out) against
the C, Node, Python, Express and Flask examples.

One fcd serves all five examples; each test starts its own."""
import json
import os
import re
import shutil
import socket

from fcd import (SLOW, UUID_RE, Fcd, invoke, read_response, read_until_close, request)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EX = os.path.join(ROOT, "examples")
FULL_ECHO = ("c", "node", "python")          # echo client IP headers, /status/N, /cookies
ALL = ("c", "node", "python", "express", "flask")
DIRS = {"c": "hello-c", "node": "node", "python": "python", "express": "express",
        "flask": "flask"}


def available(names=ALL):
    """The examples this machine can run (C is built by make; the others need
    node, Express's node_modules, gunicorn + Flask). The C, Node and Python
    ones are required: a missing one fails the test rather than skipping."""
    out = []
    for n in names:
        if n == "express" and not os.path.isdir(os.path.join(EX, "express", "node_modules")):
            print("# express: node_modules missing (make deps); skipped")
            continue
        if n == "flask" and shutil.which("gunicorn") is None and not os.path.exists(
                "/usr/bin/gunicorn"):
            print("# flask: gunicorn missing; skipped")
            continue
        out.append(n)
    return out


def fcd_for(names, extra=""):
    """fcd with the example runtimes. Their timeout is 30 s, not FC's default
    3 s: a framework's first request (Flask's imports under gunicorn) can take
    longer than 3 s on a loaded 2-core machine, and no test here is about
    timeouts."""
    return Fcd(args=[a for n in names for a in
                     ("--function",
                      "%s=%s,timeout=30%s" % (n, os.path.join(EX, DIRS[n]), extra))])


def check_invoke_headers(status, headers, body):
    assert status == 200, (status, headers, body)
    assert headers["content-type"] == "application/octet-stream", headers
    assert re.fullmatch(UUID_RE, headers["x-fc-request-id"]), headers
    assert re.fullmatch(r"\d+", headers["x-fc-invocation-duration"]), headers
    assert re.fullmatch(r"\d+\.\d\d", headers["x-fc-max-memory-usage"]), headers
    assert headers.get("x-fc-instance-id"), headers
    assert "x-fc-error-type" not in headers, headers
    assert int(headers["content-length"]) == len(body), headers


# ---- InvokeFunction --------------------------------------------------------------

def test_invoke_sync_every_runtime():
    names = available()
    with fcd_for(names) as f:
        for n in names:
            st, h, body = invoke(f, n, b"bob", timeout=15)
            check_invoke_headers(st, h, body)
            assert body == b"hello, bob", (n, body)
            # Warm: the same instance answers the next call, a different request id.
            st2, h2, body2 = invoke(f, n, b"alice")
            check_invoke_headers(st2, h2, body2)
            assert body2 == b"hello, alice", (n, body2)
            assert h2["x-fc-instance-id"] == h["x-fc-instance-id"], (n, h, h2)
            assert h2["x-fc-request-id"] != h["x-fc-request-id"], (n, h, h2)
            # An empty event.
            st3, h3, body3 = invoke(f, n, b"")
            assert (st3, body3) == (200, b"hello, world"), (n, st3, body3)
        # Different functions, different instances.
        ids = {invoke(f, n, b"x")[1]["x-fc-instance-id"] for n in names}
        assert len(ids) == len(names), ids
        assert f.stop() == 0


def test_invoke_keep_alive_connection():
    """Several invocations on one client connection (keep-alive)."""
    with fcd_for(("c",)) as f:
        with f.connect(10 * SLOW) as s:
            for i in range(5):
                ev = b"n%d" % i
                s.sendall(b"POST /2016-08-15/services/default/functions/c/invocations HTTP/1.1\r\n"
                          b"Host: x\r\nContent-Length: %d\r\n\r\n%s" % (len(ev), ev))
                st, h, body = read_response(s)
                assert (st, body) == (200, b"hello, " + ev), (st, h, body)
        assert f.stop() == 0


def test_invoke_function_error():
    """"fail": x-fc-status 404 from the runtime → 200 + UnhandledInvocationError
    + the runtime's body (CONTRACT.md §2.3, §6.4)."""
    names = available(FULL_ECHO)
    with fcd_for(names) as f:
        for n in names:
            st, h, body = invoke(f, n, b"fail", timeout=15)
            assert st == 200, (n, st, h, body)
            assert h.get("x-fc-error-type") == "UnhandledInvocationError", (n, h)
            assert json.loads(body) == {"errorMessage": "requested failure"}, (n, body)
            assert re.fullmatch(UUID_RE, h["x-fc-request-id"]), h
            assert "x-fc-status" not in h, h
            # A failure does not cost the instance.
            st2, h2, body2 = invoke(f, n, b"again")
            assert (st2, body2) == (200, b"hello, again"), (n, st2, body2)
            assert h2["x-fc-instance-id"] == h["x-fc-instance-id"], (n, h, h2)
        assert f.stop() == 0


def test_invoke_environment():
    """FC_* variables and the function's own environment (CONTRACT.md §6.2)."""
    names = available(FULL_ECHO)
    funcs = {n: {"code_dir": os.path.join(EX, DIRS[n]), "memory_mb": 256,
                 "environment": {"GREETING": "hi there", "EMPTYISH": "x=y"}} for n in names}
    cfg = json.dumps({"services": {"svc1": {"functions": funcs}}})
    with Fcd(config=cfg) as f:
        for n in names:
            def env(name):
                st, h, body = invoke(f, n, "env:" + name, service="svc1", timeout=15)
                assert st == 200, (n, name, st, body)
                return body.decode(), h
            assert env("FC_FUNCTION_NAME")[0] == n
            assert env("FC_SERVICE_NAME")[0] == "svc1"
            port = env("FC_SERVER_PORT")[0]
            assert port.isdigit() and 0 < int(port) < 65536 and int(port) != f.port, port
            assert env("FC_CUSTOM_LISTEN_PORT")[0] == port
            iid, h = env("FC_INSTANCE_ID")
            assert iid and iid == h["x-fc-instance-id"], (iid, h)
            assert env("FC_FUNCTION_MEMORY_SIZE")[0] == "256"
            assert env("FC_FUNC_CODE_PATH")[0] == os.path.realpath(os.path.join(EX, DIRS[n]))
            assert env("GREETING")[0] == "hi there"
            assert env("EMPTYISH")[0] == "x=y"
            assert env("NOT_SET_ANYWHERE")[0] == ""
        assert f.stop() == 0


# ---- HTTP trigger ----------------------------------------------------------------

def trigger(f, n, method="GET", path="/", query="", headers=(), body=b"", service="default",
            prefix="/2016-08-15/proxy"):
    target = "%s/%s/%s%s%s" % (prefix, service, n, path, "?" + query if query else "")
    raw = "%s %s HTTP/1.1\r\nHost: x\r\n" % (method, target)
    raw += "".join("%s: %s\r\n" % kv for kv in headers)
    if body or method in ("POST", "PUT"):
        raw += "Content-Length: %d\r\n" % len(body)
    return request(f, raw.encode() + b"\r\n" + body, 15 * SLOW)


def raw_response(f, raw, timeout=15):
    """Send raw (which asks Connection: close) and return (status line, [(name,
    value)...] in order, body)."""
    with f.connect(timeout * SLOW) as s:
        s.sendall(raw)
        data = read_until_close(s, timeout * SLOW)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return lines[0], [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]], body


def test_http_trigger_request_reaches_instance():
    names = available()
    with fcd_for(names) as f:
        for n in names:
            st, h, body = trigger(f, n, "POST", "/a/b%20c/d", "x=1&y=two",
                                  [("Content-Type", "text/plain; charset=utf-8"),
                                   ("X-Forwarded-For", "203.0.113.7")], b"0123456789")
            assert st == 200, (n, st, h, body)
            assert h["content-type"].startswith("application/json"), (n, h)
            assert re.fullmatch(UUID_RE, h["x-fc-request-id"]), h
            assert h.get("x-fc-instance-id"), h
            doc = json.loads(body)
            assert doc["method"] == "POST", (n, doc)
            # The full original path (CONTRACT.md §3.3); Express/Flask decode %20.
            assert doc["path"] in ("/2016-08-15/proxy/default/%s/a/b%%20c/d" % n,
                                   "/2016-08-15/proxy/default/%s/a/b c/d" % n), (n, doc)
            assert doc["query"] == "x=1&y=two", (n, doc)
            assert doc["bodyLength"] == 10, (n, doc)
            hd = doc["headers"]
            assert hd["content-type"] == "text/plain; charset=utf-8", (n, doc)
            base = "/2016-08-15/proxy/default/%s" % n
            assert hd["x-fc-base-path"].rstrip("/") == base, (n, doc)
            assert doc["path"].startswith(hd["x-fc-base-path"].rstrip("/") + "/"), (n, doc)
            if n in FULL_ECHO:
                assert hd["x-fc-client-ip"] == "127.0.0.1", (n, doc)
                xff = [p.strip() for p in hd["x-forwarded-for"].split(",")]
                assert xff == ["203.0.113.7", "127.0.0.1"], (n, doc)
            # Every method the trigger allows.
            for m in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
                st, h, body = trigger(f, n, m, "/m")
                assert st == 200, (n, m, st, body)
                assert json.loads(body)["method"] == m, (n, m, body)
            # The bare function URL, with and without the trailing slash.
            for path in ("", "/"):
                st, h, body = trigger(f, n, "GET", path)
                assert st == 200, (n, path, st, body)
                assert json.loads(body)["path"] in (
                    "/2016-08-15/proxy/default/%s%s" % (n, path),
                    "/2016-08-15/proxy/default/%s/" % n), (n, path, body)
        assert f.stop() == 0


def test_http_trigger_no_client_xff():
    names = available(FULL_ECHO)
    with fcd_for(names) as f:
        for n in names:
            st, h, body = trigger(f, n, "GET", "/ip")
            hd = json.loads(body)["headers"]
            assert hd["x-forwarded-for"] == "127.0.0.1", (n, hd)
            assert hd["x-fc-client-ip"] == "127.0.0.1", (n, hd)
        assert f.stop() == 0


def test_http_trigger_other_url_forms():
    """The qualifier form {s}.LATEST and the 2021-04-06 prefix (CONTRACT.md §3)."""
    with fcd_for(("c",)) as f:
        st, h, body = trigger(f, "c", "GET", "/q", service="default.LATEST")
        assert st == 200, (st, body)
        doc = json.loads(body)
        assert doc["path"] == "/2016-08-15/proxy/default.LATEST/c/q", doc
        assert doc["headers"]["x-fc-base-path"].rstrip("/") == \
            "/2016-08-15/proxy/default.LATEST/c", doc
        st, h, body = trigger(f, "c", "GET", "/r", prefix="/2021-04-06/proxy")
        assert st == 200, (st, body)
        assert json.loads(body)["path"] == "/2021-04-06/proxy/default/c/r", body
        assert f.stop() == 0


def test_http_trigger_status_passes_through():
    names = available(FULL_ECHO)
    with fcd_for(names) as f:
        for n in names:
            for code in (201, 404, 418, 500, 503):
                st, h, body = trigger(f, n, "GET", "/status/%d" % code)
                assert st == code, (n, code, st, body)
                assert json.loads(body)["path"].endswith("/status/%d" % code), body
                assert "x-fc-error-type" not in h, (n, code, h)
                assert re.fullmatch(UUID_RE, h["x-fc-request-id"]), h
        assert f.stop() == 0


def test_http_trigger_no_hop_by_hop_back():
    """Node/Express send Connection + Keep-Alive, Python/gunicorn Server + Date:
    the client gets fcd's own framing only (RUNTIMES.md, CONTRACT.md §3.4)."""
    names = available()
    with fcd_for(names) as f:
        for n in names:
            status_line, hdrs, body = raw_response(
                f, b"GET /2016-08-15/proxy/default/%s/hop HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n" % n.encode())
            assert status_line.startswith("HTTP/1.1 200"), (n, status_line, body)
            names_l = [k.lower() for k, _ in hdrs]
            for hop in ("keep-alive", "transfer-encoding", "proxy-connection", "upgrade",
                        "server", "x-powered-by-fc"):
                assert hop not in names_l, (n, hop, hdrs)
            for one in ("content-length", "date", "connection", "content-type"):
                assert names_l.count(one) <= 1, (n, one, hdrs)
            assert names_l.count("content-length") == 1, (n, hdrs)
            assert not [k for k in names_l if k == "x-fc-status"], (n, hdrs)
            assert int(dict((k.lower(), v) for k, v in hdrs)["content-length"]) == len(body)
            assert json.loads(body)["path"].endswith("/hop"), (n, body)
        assert f.stop() == 0


def test_http_trigger_set_cookie_multi_value():
    """Two Set-Cookie (and two X-Multi) headers from the instance stay two, in
    order; the instance's hop-by-hop and x-fc-* headers are dropped. The
    examples answer cookies only on the exact instance path "/cookies", which a
    trigger never forwards (fcd forwards the full original path, CONTRACT.md
    §3.3), so a tiny runtime that sets them on every path is used."""
    import tempfile
    d = tempfile.mkdtemp(prefix="fcd-e2e-rt-")
    os.chmod(d, 0o755)  # instances may run as an unprivileged user
    with open(os.path.join(d, "rt.py"), "w") as fh:
        fh.write(COOKIE_RUNTIME)
    with open(os.path.join(d, "bootstrap"), "w") as fh:
        fh.write("#!/bin/sh\nexec /usr/bin/python3 -u \"$(dirname \"$0\")/rt.py\"\n")
    os.chmod(os.path.join(d, "bootstrap"), 0o755)
    with Fcd(args=["--function", "ck=" + d]) as f:
        status_line, hdrs, body = raw_response(
            f, b"GET /2016-08-15/proxy/default/ck/x HTTP/1.1\r\nHost: x\r\n"
               b"Connection: close\r\n\r\n")
        assert status_line.startswith("HTTP/1.1 200"), (status_line, body)
        cookies = [v for k, v in hdrs if k.lower() == "set-cookie"]
        assert cookies == ["a=1; Path=/", "b=2; Path=/; HttpOnly"], hdrs
        multi = [v for k, v in hdrs if k.lower() == "x-multi"]
        assert multi == ["one", "two"], hdrs
        names_l = [k.lower() for k, _ in hdrs]
        assert "keep-alive" not in names_l and "x-fc-status" not in names_l, hdrs
        assert "x-fc-internal" not in names_l, hdrs
        assert body == b"cookies", body
        assert f.stop() == 0


COOKIE_RUNTIME = r'''
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Set-Cookie", "a=1; Path=/")
        self.send_header("Set-Cookie", "b=2; Path=/; HttpOnly")
        self.send_header("X-Multi", "one")
        self.send_header("X-Multi", "two")
        self.send_header("Keep-Alive", "timeout=5")
        self.send_header("Connection", "keep-alive")
        self.send_header("X-Fc-Internal", "leak")
        self.send_header("Content-Length", "7")
        self.end_headers()
        self.wfile.write(b"cookies")
    do_POST = do_GET

ThreadingHTTPServer(("0.0.0.0", int(os.environ["FC_SERVER_PORT"])), H).serve_forever()
'''


def test_http_trigger_head():
    names = available()
    with fcd_for(names) as f:
        for n in names:
            st, h, body = trigger(f, n, "GET", "/h")
            assert st == 200, (n, st, body)
            with f.connect(15 * SLOW) as s:
                s.sendall(b"HEAD /2016-08-15/proxy/default/%s/h HTTP/1.1\r\nHost: x\r\n\r\n"
                          % n.encode())
                st2, h2, body2 = read_response(s, head_only=True)
                assert st2 == 200, (n, st2, h2)
                assert body2 == b"", (n, body2)
                # Framing: the same connection serves the next request cleanly
                # (no body bytes after a HEAD answer).
                s.sendall(b"GET /2016-08-15/proxy/default/%s/after HTTP/1.1\r\nHost: x\r\n\r\n"
                          % n.encode())
                st3, h3, body3 = read_response(s)
                assert st3 == 200, (n, st3, body3)
                assert json.loads(body3)["path"].endswith("/after"), (n, body3)
        assert f.stop() == 0


def test_http_trigger_large_body():
    names = available()
    big = bytes(range(256)) * 4096  # 1 MiB
    with fcd_for(names) as f:
        for n in names:
            st, h, body = trigger(f, n, "POST", "/big", headers=[("Content-Type",
                                                                  "application/octet-stream")],
                                  body=big)
            assert st == 200, (n, st, body[:200])
            assert json.loads(body)["bodyLength"] == len(big), (n, body)
            # Chunked from the client: fcd forwards it with a length.
            chunked = b"".join(b"%x\r\n%s\r\n" % (65536, big[i:i + 65536])
                               for i in range(0, len(big), 65536)) + b"0\r\n\r\n"
            st, h, body = request(f, b"POST /2016-08-15/proxy/default/%s/big HTTP/1.1\r\n"
                                     b"Host: x\r\nTransfer-Encoding: chunked\r\n"
                                     b"Content-Type: application/octet-stream\r\n\r\n"
                                     % n.encode() + chunked, 15 * SLOW)
            assert st == 200, (n, st, body[:200])
            assert json.loads(body)["bodyLength"] == len(big), (n, body)
        assert f.stop() == 0


def test_invoke_large_event():
    """A 1 MiB event through InvokeFunction comes back whole."""
    names = available(("c", "node", "python"))
    ev = b"z" * (1 << 20)
    with fcd_for(names) as f:
        for n in names:
            st, h, body = invoke(f, n, ev, timeout=15)
            assert st == 200, (n, st, body[:200])
            assert body == b"hello, " + ev, (n, len(body))
        assert f.stop() == 0
