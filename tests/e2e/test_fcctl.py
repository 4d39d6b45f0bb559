"""fcctl, the command-line client, end to end: every command against a real
fcd (invoke sync/log/async/errors, tasks, deploy/list/get/delete of a
Funcraft template, logs, signatures), its exit codes (0 ok, 1 server or
function error, 2 usage, 3 network, 4 local), and, against a small fake
server in this process, what fcctl puts on the wire where fcd cannot show
it: the FC signature checked by an independent verifier, chunked answers,
the bodies and code zip of a deploy, and the offsets `logs -f` asks for.

fcctl is found next to $FCD. Every run gets its own HOME and a clean
environment, so no ~/.fcctl.json or FC_* variable of the caller leaks in."""
import base64
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import urllib.parse
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fcd import FCD, SLOW, UUID_RE, Fcd, request, wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HELLO_C = os.path.join(ROOT, "examples", "hello-c")
FCCTL = os.path.join(os.path.dirname(os.path.abspath(FCD)), "fcctl")
KEY = ("ak-test", "sk-secret")


def fn_flag(name, code_dir=HELLO_C, **opts):
    return ["--function", ",".join(["%s=%s" % (name, code_dir)] +
                                   ["%s=%s" % kv for kv in opts.items()])]


def endpoint_of(f):
    host = "[%s]" % f.host if ":" in f.host else f.host
    return "http://%s:%d" % (host, f.port)


def clean_env(endpoint=None, key=None, account=None, **extra):
    """A minimal environment: own HOME, no FC_* but those asked for."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": tempfile.mkdtemp(prefix="fcctl-home-")}
    if endpoint is not None:
        env["FC_ENDPOINT"] = endpoint
    if key is not None:
        env["FC_ACCESS_KEY_ID"], env["FC_ACCESS_KEY_SECRET"] = key
    if account is not None:
        env["FC_ACCOUNT_ID"] = account
    env.update(extra)
    return env


def fcctl(args, f=None, key=None, account=None, input=None, timeout=30, env=None, **extra):
    """Run fcctl; returns CompletedProcess (bytes stdout/stderr)."""
    assert os.access(FCCTL, os.X_OK), "no fcctl next to FCD (%s): build it first" % FCCTL
    if env is None:
        env = clean_env(endpoint_of(f) if f is not None else None, key, account, **extra)
    return subprocess.run([FCCTL] + list(args), env=env, input=input, capture_output=True,
                          timeout=timeout * SLOW)


def ok(r):
    """Assert exit 0; returns stdout as text."""
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout.decode()


def server_error(r, code):
    """Assert exit 1 with 'fcctl: <code>: ... (request id ...)' on stderr."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.decode()
    assert re.search(r"^fcctl: %s: .+ \(request id [^)]+\)$" % code, err, re.M), err
    return err


# ---- help, usage -------------------------------------------------------------------

def test_fcctl_help_and_version():
    r = fcctl(["--help"])
    out = ok(r)
    for word in ("service", "function", "trigger", "deploy", "invoke", "tasks", "logs",
                 "FC_ENDPOINT", "FC_ACCESS_KEY_ID", "FCCTL_CONFIG", "Exit codes"):
        assert word in out, (word, out)
    for code in "01234":
        assert re.search(r"^  %s  " % code, out, re.M), (code, out)
    assert re.fullmatch(r"fcctl \d+\.\d+\.\d+\n", ok(fcctl(["--version"])))
    out = ok(fcctl(["invoke", "--help"]))
    assert "usage: fcctl invoke SVC/FN" in out and "--async" in out and "--qualifier" in out, out
    out = ok(fcctl(["tasks", "--help"]))
    assert "tasks list" in out and "tasks stop" in out, out
    assert "--tail" in ok(fcctl(["logs", "-h"]))


def test_fcctl_usage_errors_exit_2():
    cases = [
        [], ["bogus"], ["service"], ["service", "frob"], ["service", "get"],
        ["service", "get", "a", "b"], ["invoke"], ["invoke", "a"], ["invoke", "a/b/c"],
        ["invoke", "/b"], ["invoke", "a/b", "-d", "x", "-f", "y"],
        ["invoke", "a/b", "--delay", "5"], ["invoke", "a/b", "--async", "--delay", "soon"],
        ["invoke", "a/b", "--task-id", "t"], ["invoke", "a/b", "--bogus"],
        ["invoke", "a/b", "-d"], ["invoke", "a/b", "--async=yes"],
        ["--timeout", "abc", "service", "list"], ["--timeout", "0", "service", "list"],
        ["tasks", "list", "a/b", "--limit", "0"], ["tasks", "get", "a/b"],
        ["logs", "a/b", "--tail", "-1"], ["trigger", "get", "a/b"],
        ["--endpoint", "https://127.0.0.1:1", "service", "list"],
        ["--endpoint", "http://127.0.0.1:99999", "service", "list"],
        ["--async", "invoke", "a/b"],  # a command's option before the command
    ]
    # A listener that must see no connection: usage errors stop before the network.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.setblocking(False)
        env = clean_env("http://127.0.0.1:%d" % s.getsockname()[1])
        for argv in cases:
            r = fcctl(argv, env=env)
            assert r.returncode == 2, (argv, r.returncode, r.stdout, r.stderr)
            assert r.stderr.startswith(b"fcctl: ") and r.stdout == b"", (argv, r)
        try:
            s.accept()
            raise AssertionError("a usage error connected to the server")
        except BlockingIOError:
            pass


# ---- invoke -------------------------------------------------------------------------

def test_fcctl_invoke_sync():
    with Fcd(args=fn_flag("c")) as f:
        assert ok(fcctl(["invoke", "default/c", "-d", "world"], f)) == "hello, world"
        assert ok(fcctl(["invoke", "default/c"], f)) == "hello, world"  # empty event
        assert ok(fcctl(["invoke", "default/c", "--data=x y"], f)) == "hello, x y"
        assert ok(fcctl(["invoke", "default/c", "-d", "q", "--qualifier", "LATEST"], f)) == \
            "hello, q"
        # Binary-safe both ways: every byte value, from a file and from stdin.
        data = bytes(range(256)) * 64 + b"\r\n\0end"
        path = os.path.join(tempfile.mkdtemp(prefix="fcctl-"), "event.bin")
        with open(path, "wb") as fp:
            fp.write(data)
        r = fcctl(["invoke", "default/c", "-f", path], f)
        assert r.returncode == 0 and r.stdout == b"hello, " + data, (r.returncode, r.stderr)
        r = fcctl(["invoke", "default/c", "-f", "-"], f, input=data)
        assert r.returncode == 0 and r.stdout == b"hello, " + data, (r.returncode, r.stderr)
        # A global option after the command, a value that starts with '-'.
        assert ok(fcctl(["invoke", "-d", "-5", "default/c", "--timeout", "20"], f)) == "hello, -5"
        # An unreadable file is a local error; nothing is sent.
        r = fcctl(["invoke", "default/c", "-f", path + ".missing"], f)
        assert r.returncode == 4 and b"No such file" in r.stderr, r
        assert f.stop() == 0


def test_fcctl_invoke_log_tail():
    with Fcd(args=fn_flag("c")) as f:
        r = fcctl(["invoke", "default/c", "-d", "log:marker-7", "--log"], f)
        assert ok(r) == "hello, log:marker-7"
        err = r.stderr.decode()
        m = re.search(r"FC Invoke Start RequestId: (%s)" % UUID_RE, err)
        assert m and "marker-7" in err and "FC Invoke End RequestId: " + m.group(1) in err, err
        # Without --log nothing goes to stderr.
        r = fcctl(["invoke", "default/c", "-d", "log:quiet"], f)
        assert ok(r) == "hello, log:quiet" and r.stderr == b"", r


def test_fcctl_invoke_function_error_exit_1():
    with Fcd(args=fn_flag("c")) as f:
        r = fcctl(["invoke", "default/c", "-d", "fail"], f)
        assert r.returncode == 1, r
        assert json.loads(r.stdout) == {"errorMessage": "requested failure"}, r.stdout
        assert re.search(r"fcctl: function error: UnhandledInvocationError \(request id %s\)"
                         % UUID_RE, r.stderr.decode()), r.stderr


def test_fcctl_invoke_not_found_exit_1():
    with Fcd(args=fn_flag("c")) as f:
        r = fcctl(["invoke", "default/nope", "-d", "x"], f)
        err = server_error(r, "FunctionNotFound")
        assert r.stdout == b"", r
        rid = re.search(r"request id (%s)" % UUID_RE, err).group(1)
        # --json: the error JSON on stdout as well.
        r = fcctl(["--json", "invoke", "nosvc/c", "-d", "x"], f)
        server_error(r, "ServiceNotFound")
        doc = json.loads(r.stdout)
        assert doc["ErrorCode"] == "ServiceNotFound" and re.fullmatch(UUID_RE, doc["RequestId"])
        assert doc["RequestId"] != rid


# ---- async and tasks ------------------------------------------------------------------

def task_doc(f, task_id):
    r = fcctl(["--json", "tasks", "get", "default/c", task_id], f)
    return json.loads(ok(r))


def test_fcctl_invoke_async_and_tasks():
    with Fcd(args=fn_flag("c")) as f:
        out = ok(fcctl(["invoke", "default/c", "--async", "-d", "a1"], f))
        m = re.fullmatch(r"request id: (%s)\n" % UUID_RE, out)
        assert m, out  # not task mode: no task id
        rid = m.group(1)
        assert wait_for(lambda: task_doc(f, rid)["status"] == "Succeeded", 10 * SLOW, 0.1)
        doc = task_doc(f, rid)
        assert doc["returnPayload"] == "hello, a1" and doc["invocationId"] == rid, doc
        # Human form of one task: key/value lines, times as dates, events.
        out = ok(fcctl(["tasks", "get", "default/c", rid], f))
        assert re.search(r"^status\s+Succeeded$", out, re.M), out
        assert re.search(r"^startedTime\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", out, re.M)
        assert re.search(r"^events:\n(  .*status=Enqueued.*\n)", out, re.M), out
        # A caller task id, --json.
        out = ok(fcctl(["--json", "invoke", "default/c", "--async", "--task-id", "job-1",
                        "-d", "a2"], f))
        assert json.loads(out) == {"requestId": "job-1", "taskId": "job-1"}, out
        out = ok(fcctl(["invoke", "default/c", "--async", "--task-id", "job-2", "-d", "a3"], f))
        assert out == "request id: job-2\ntask id: job-2\n", out
        for t in ("job-1", "job-2"):
            assert wait_for(lambda: task_doc(f, t)["status"] == "Succeeded", 10 * SLOW, 0.1)
        # The list: a table, newest first; --limit; --status; --json.
        out = ok(fcctl(["tasks", "list", "default/c"], f))
        lines = out.splitlines()
        assert lines[0].split() == ["ID", "STATUS", "STARTED", "DURATION_MS", "RETRIES", "ERROR"]
        assert [ln.split()[0] for ln in lines[1:]] == ["job-2", "job-1", rid], out
        assert all(ln == ln.rstrip() for ln in lines), out
        out = ok(fcctl(["tasks", "list", "default/c", "--limit", "2"], f))
        assert [ln.split()[0] for ln in out.splitlines()[1:]] == ["job-2", "job-1"], out
        doc = json.loads(ok(fcctl(["--json", "tasks", "list", "default/c"], f)))
        assert sorted(t["invocationId"] for t in doc["invocations"]) == sorted(
            ["job-1", "job-2", rid]), doc
        doc = json.loads(ok(fcctl(["tasks", "list", "default/c", "--status", "Failed",
                                   "--json"], f)))
        assert not doc.get("invocations"), doc
        # Unknown task: 404 from fcd, exit 1.
        server_error(fcctl(["tasks", "get", "default/c", "nope"], f),
                     "StatefulAsyncInvocationNotFound")


def test_fcctl_tasks_stop_and_delay():
    with Fcd(args=fn_flag("c")) as f:
        out = ok(fcctl(["invoke", "default/c", "--async", "--delay", "60", "--task-id", "later",
                        "-d", "x"], f))
        assert "task id: later" in out, out
        assert task_doc(f, "later")["status"] == "Enqueued"
        assert ok(fcctl(["tasks", "stop", "default/c", "later"], f)) == "stopped task later\n"
        doc = task_doc(f, "later")
        assert doc["status"] == "Stopped", doc
        # Stopping it again: fcd refuses (400 InvalidArgument), exit 1.
        server_error(fcctl(["tasks", "stop", "default/c", "later"], f), "InvalidArgument")
        doc = json.loads(ok(fcctl(["--json", "tasks", "list", "default/c", "--status",
                                   "Stopped"], f)))
        assert [t["invocationId"] for t in doc["invocations"]] == ["later"], doc


# ---- network errors -----------------------------------------------------------------

def test_fcctl_unreachable_exit_3():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    r = fcctl(["--endpoint", "http://127.0.0.1:%d" % port, "invoke", "a/b"])
    assert r.returncode == 3 and b"cannot connect to 127.0.0.1:%d" % port in r.stderr, r
    assert time.monotonic() - t0 < 5 * SLOW
    r = fcctl(["service", "list"], env=clean_env("http://no-such-host.invalid:80"))
    assert r.returncode == 3 and b"cannot resolve" in r.stderr, r
    # A server that accepts and never answers: the read timeout, then exit 3.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        t0 = time.monotonic()
        r = fcctl(["--timeout", "0.5", "tasks", "list", "a/b"],
                  env=clean_env("http://127.0.0.1:%d/" % s.getsockname()[1]))
        took = time.monotonic() - t0
        assert r.returncode == 3 and b"no answer from" in r.stderr, r
        assert 0.45 <= took < 0.5 + 2 * SLOW, took


def test_fcctl_ipv6_endpoint():
    with Fcd(args=fn_flag("c"), host="::1") as f:
        assert endpoint_of(f).startswith("http://[::1]:")
        assert ok(fcctl(["invoke", "default/c", "-d", "v6"], f)) == "hello, v6"


# ---- a fake server: what fcctl sends ----------------------------------------------------

class Fake:
    """An HTTP/1.1 server in a thread. handle(h, method, path, headers, body)
    returns (status, headers dict, body bytes) or None when it wrote the
    answer itself; every request is kept in self.seen."""

    def __init__(self, handle):
        self.seen = []
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                hdrs = [(k, v) for k, v in self.headers.items()]
                fake.seen.append((self.command, self.path, hdrs, body))
                out = handle(self, self.command, self.path, hdrs, body)
                if out is None:
                    return
                status, h, payload = out
                self.send_response(status)
                for k, v in h.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            do_GET = do_POST = do_PUT = do_DELETE = any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = "http://127.0.0.1:%d" % self.server.server_address[1]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def fc_signature(secret, method, path, headers):
    """CONTRACT.md §4, written independently of fcd's core/auth.c."""
    low = {}
    for k, v in headers:
        low.setdefault(k.lower(), []).append(v)
    one = {k: v[0] for k, v in low.items()}
    canon = "".join("%s:%s\n" % (k, one[k]) for k in sorted(one) if k.startswith("x-fc-"))
    resource = urllib.parse.unquote(path.split("?", 1)[0])
    sts = "\n".join([method, one.get("content-md5", ""), one.get("content-type", ""),
                     one["date"], canon + resource])
    return base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha256).digest())


def test_fcctl_signature_on_the_wire():
    def answer(h, method, path, headers, body):
        if path.endswith("/invocations"):  # chunked answer with an x-fc-error-type
            h.send_response(200)
            h.send_header("Transfer-Encoding", "chunked")
            h.send_header("x-fc-request-id", "rid-1")
            h.end_headers()
            h.wfile.write(b"5\r\nhello\r\n6;ext=1\r\n, wire\r\n0\r\n\r\n")
            return None
        return 200, {"Content-Type": "application/json"}, b'{"services":[],"nextToken":""}'
    with Fake(answer) as srv:
        r = fcctl(["invoke", "s%20x/fn", "-d", "ev\x01"], key=KEY, account="12345",
                  FC_ENDPOINT=srv.endpoint)
        assert r.returncode == 0 and r.stdout == b"hello, wire", r
        ok(fcctl(["service", "list"], key=KEY, FC_ENDPOINT=srv.endpoint))
        ok(fcctl(["service", "list"], FC_ENDPOINT=srv.endpoint))  # no key: unsigned
        (m1, p1, h1, b1), (m2, p2, h2, _), (_, _, h3, _) = srv.seen
        assert (m1, p1, b1) == ("POST", "/2016-08-15/services/s%2520x/functions/fn/invocations",
                                b"ev\x01"), srv.seen[0]
        d1 = dict((k.lower(), v) for k, v in h1)
        assert d1["x-fc-account-id"] == "12345" and d1["content-type"] == \
            "application/octet-stream", d1
        assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", d1["date"]), d1
        for (m, p, h) in ((m1, p1, h1), (m2, p2, h2)):
            auth = dict((k.lower(), v) for k, v in h)["authorization"]
            want = "FC %s:%s" % (KEY[0], fc_signature(KEY[1], m, p, h).decode())
            assert auth == want, (auth, want, h)
        d2 = dict((k.lower(), v) for k, v in h2)
        assert p2.startswith("/2016-08-15/services?limit=") and d2["x-fc-account-id"] == "", d2
        assert "content-type" not in d2 and "content-length" not in d2, d2  # GET: no body
        assert "authorization" not in dict((k.lower(), v) for k, v in h3), h3


def test_fcctl_list_pages_on_the_wire():
    pages = {None: (["a", "b"], "t1"), "t1": (["c"], "t 2/+"), "t 2/+": (["d"], "")}

    def answer(h, method, path, headers, body):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)
        names, nxt = pages[q.get("nextToken", [None])[0]]
        doc = {"services": [{"serviceName": n, "description": "d " + n} for n in names],
               "nextToken": nxt}
        return 200, {"Content-Type": "application/json"}, json.dumps(doc).encode()
    with Fake(answer) as srv:
        out = ok(fcctl(["service", "list"], FC_ENDPOINT=srv.endpoint))
        assert out.splitlines() == ["NAME  DESCRIPTION  MODIFIED", "a     d a          -",
                                    "b     d b          -", "c     d c          -",
                                    "d     d d          -"], out
        assert [p for _, p, _, _ in srv.seen] == [
            "/2016-08-15/services?limit=100", "/2016-08-15/services?limit=100&nextToken=t1",
            "/2016-08-15/services?limit=100&nextToken=t%202%2F%2B"], srv.seen
        doc = json.loads(ok(fcctl(["--json", "service", "list"], FC_ENDPOINT=srv.endpoint)))
        assert [x["serviceName"] for x in doc["services"]] == list("abcd"), doc
        assert doc["nextToken"] == "", doc
        pages["t1"] = (["c"], "t1")  # a server that never ends: stopped, exit 1
        r = fcctl(["service", "list"], FC_ENDPOINT=srv.endpoint)
        assert r.returncode == 1 and b"repeats nextToken" in r.stderr, r


def test_fcctl_signed_calls_accepted_by_fcd():
    with Fcd(args=fn_flag("c") + ["--access-key", "%s:%s" % KEY]) as f:
        assert ok(fcctl(["invoke", "default/c", "-d", "signed"], f, key=KEY)) == "hello, signed"
        out = ok(fcctl(["invoke", "default/c", "--async", "--task-id", "s1"], f, key=KEY,
                       account="acct-1"))
        assert "task id: s1" in out
        assert wait_for(lambda: fcctl(["--json", "tasks", "get", "default/c", "s1"], f,
                                      key=KEY).returncode == 0, 5 * SLOW, 0.1)


def test_fcctl_wrong_secret_exit_1():
    """Needs fcd to verify signatures on API calls (InvokeFunction included)."""
    with Fcd(args=fn_flag("c") + ["--access-key", "%s:%s" % KEY]) as f:
        r = fcctl(["invoke", "default/c", "-d", "x"], f, key=(KEY[0], "not-the-secret"))
        server_error(r, "SignatureNotMatch")
        assert r.stdout == b"", r
        r = fcctl(["--json", "tasks", "list", "default/c"], f, key=(KEY[0], "wrong"))
        server_error(r, "SignatureNotMatch")
        assert json.loads(r.stdout)["ErrorCode"] == "SignatureNotMatch"
        r = fcctl(["invoke", "default/c"], f, key=("nobody", "x"))
        server_error(r, "InvalidAccessKeyID")


def test_fcctl_config_file_and_precedence():
    with Fcd(args=fn_flag("c")) as f:
        d = tempfile.mkdtemp(prefix="fcctl-cfg-")
        cfg = os.path.join(d, "c.json")
        with open(cfg, "w") as fp:
            json.dump({"endpoint": endpoint_of(f), "access_key_id": "", "account_id": "9"}, fp)
        assert ok(fcctl(["invoke", "default/c", "-d", "cfg"], FCCTL_CONFIG=cfg)) == "hello, cfg"
        # ~/.fcctl.json when FCCTL_CONFIG is unset.
        env = clean_env()
        shutil.copy(cfg, os.path.join(env["HOME"], ".fcctl.json"))
        assert ok(fcctl(["invoke", "default/c", "-d", "home"], env=env)) == "hello, home"
        # The environment beats the file, --endpoint beats both.
        env["FC_ENDPOINT"] = "http://127.0.0.1:1"
        assert fcctl(["invoke", "default/c"], env=env).returncode == 3
        env_ok = dict(env, FC_ENDPOINT="http://127.0.0.1:1")
        assert ok(fcctl(["--endpoint", endpoint_of(f), "invoke", "default/c", "-d", "flag"],
                        env=env_ok)) == "hello, flag"
        # Bad configuration: exit 4.
        for text in ("{", '{"endpoint": 5}', '{"acces_key_id": "x"}', "[]",
                     '{"endpoint": "ftp://x"}', '{"access_key_id": "only-the-id"}'):
            with open(cfg, "w") as fp:
                fp.write(text)
            r = fcctl(["invoke", "default/c"], FCCTL_CONFIG=cfg)
            assert r.returncode == 4 and r.stderr.startswith(b"fcctl: "), (text, r)
        r = fcctl(["invoke", "default/c"], FCCTL_CONFIG=cfg + ".missing")
        assert r.returncode == 4, r


# ---- deploy -------------------------------------------------------------------------

TEMPLATE = """\
ROSTemplateFormatVersion: '2015-09-01'
Transform: 'Aliyun::Serverless-2018-04-03'
Resources:
  %(svc)s:
    Type: 'Aliyun::Serverless::Service'
    Properties:
      Description: 'fcctl e2e'
    hello:
      Type: 'Aliyun::Serverless::Function'
      Properties:
        Runtime: custom
        Handler: index.handler
        CodeUri: ./code
        Timeout: 30
        MemorySize: 256
        InstanceConcurrency: 2
        CAPort: 9000
        EnvironmentVariables:
          GREETING: hi
          LEVEL: 3
        Initializer: index.init
        InitializationTimeout: 5
      Events:
        web:
          Type: HTTP
          Properties:
            AuthType: ANONYMOUS
            Methods: [GET, post]
        tick:
          Type: Timer
          Properties:
            CronExpression: '@every 60m'
            Payload: 'tock'
            Enable: true
  logs:
    Type: 'Aliyun::Serverless::Log'
"""


def project(svc="demo", template=TEMPLATE):
    """A template dir: template.yml and code/ with the C example's bootstrap,
    a data file, a link inside the dir and one leading out of it."""
    assert os.access(os.path.join(HELLO_C, "bootstrap"), os.X_OK), "run make all first"
    d = tempfile.mkdtemp(prefix="fcctl-deploy-")
    os.chmod(d, 0o755)
    code = os.path.join(d, "code")
    os.makedirs(os.path.join(code, "data"))
    shutil.copy(os.path.join(HELLO_C, "bootstrap"), os.path.join(code, "bootstrap"))
    os.chmod(os.path.join(code, "bootstrap"), 0o755)
    with open(os.path.join(code, "data", "x.txt"), "w") as fp:
        fp.write("data")
    os.chmod(os.path.join(code, "data", "x.txt"), 0o640)
    os.symlink("data/x.txt", os.path.join(code, "inside"))
    os.symlink("/etc/hostname", os.path.join(code, "outside"))
    with open(os.path.join(d, "template.yml"), "w") as fp:
        fp.write(template % {"svc": svc})
    return d


class FakeFc:
    """Just enough of FC's management API for deploy: resources by path."""

    NOT_FOUND = {"services": "ServiceNotFound", "functions": "FunctionNotFound",
                 "triggers": "TriggerNotFound"}
    NAME_KEY = {"services": "serviceName", "functions": "functionName",
                "triggers": "triggerName"}

    def __init__(self):
        self.docs = {}

    def __call__(self, h, method, path, headers, body):
        path = path.split("?")[0]
        kind = path.rstrip("/").split("/")[-2] if method != "POST" else path.split("/")[-1]
        if method == "GET" and path not in self.docs:
            err = {"ErrorCode": self.NOT_FOUND[kind], "ErrorMessage": "no", "RequestId": "r"}
            return 404, {"Content-Type": "application/json"}, json.dumps(err).encode()
        if method == "POST":
            doc = json.loads(body)
            path = path + "/" + doc[self.NAME_KEY[kind]]
            self.docs[path] = doc
        elif method == "PUT":
            self.docs[path].update(json.loads(body))
        return 200, {"Content-Type": "application/json"}, json.dumps(self.docs[path]).encode()


def test_fcctl_deploy_on_the_wire():
    d = project()
    fake = FakeFc()
    with Fake(fake) as srv:
        r = fcctl(["deploy", d], FC_ENDPOINT=srv.endpoint)
        out = ok(r)
        assert re.fullmatch(r"created service demo\n"
                            r"created function demo/hello \(code: \d+ bytes zipped\)\n"
                            r"created trigger demo/hello/web\n"
                            r"created trigger demo/hello/tick\n", out), out
        err = r.stderr.decode()
        assert "Resources.logs: type Aliyun::Serverless::Log is not supported" in err, err
        assert re.search(r"left out outside: a symbolic link that leads outside", err), err
        calls = [(m, p.split("?")[0]) for m, p, _, _ in srv.seen]
        base = "/2016-08-15/services"
        assert calls == [("GET", base + "/demo"), ("POST", base),
                         ("GET", base + "/demo/functions/hello"), ("POST", base + "/demo/functions"),
                         ("GET", base + "/demo/functions/hello/triggers/web"),
                         ("POST", base + "/demo/functions/hello/triggers"),
                         ("GET", base + "/demo/functions/hello/triggers/tick"),
                         ("POST", base + "/demo/functions/hello/triggers")], calls
        for m, _, h, body in srv.seen:
            ct = dict((k.lower(), v) for k, v in h).get("content-type")
            assert ct == ("application/json" if m == "POST" else None), (m, h)
        svc = json.loads(srv.seen[1][3])
        assert svc == {"serviceName": "demo", "description": "fcctl e2e"}, svc
        fn = json.loads(srv.seen[3][3])
        code = base64.b64decode(fn.pop("code")["zipFile"])
        assert fn == {"functionName": "hello", "runtime": "custom", "handler": "index.handler",
                      "timeout": 30, "memorySize": 256, "instanceConcurrency": 2, "caPort": 9000,
                      "environmentVariables": {"GREETING": "hi", "LEVEL": "3"},
                      "initializer": "index.init", "initializationTimeout": 5}, fn
        z = zipfile.ZipFile(io.BytesIO(code))
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        assert sorted(modes) == ["bootstrap", "data/", "data/x.txt", "inside"], modes
        assert modes["bootstrap"] == stat.S_IFREG | 0o755, oct(modes["bootstrap"])
        assert modes["data/x.txt"] == stat.S_IFREG | 0o640, oct(modes["data/x.txt"])
        assert stat.S_ISDIR(modes["data/"]), modes
        assert z.read("inside") == b"data"  # a link inside the dir: followed
        with open(os.path.join(HELLO_C, "bootstrap"), "rb") as fp:
            assert z.read("bootstrap") == fp.read()
        web, tick = json.loads(srv.seen[5][3]), json.loads(srv.seen[7][3])
        assert web == {"triggerName": "web", "triggerType": "http",
                       "triggerConfig": {"authType": "anonymous", "methods": ["GET", "POST"]}}, web
        assert tick == {"triggerName": "tick", "triggerType": "timer",
                        "triggerConfig": {"cronExpression": "@every 60m", "payload": "tock",
                                          "enable": True}}, tick
        # Again: everything exists now, so PUTs, without names or trigger types.
        srv.seen.clear()
        out = ok(fcctl(["--json", "deploy", os.path.join(d, "template.yml")],
                       FC_ENDPOINT=srv.endpoint))
        report = json.loads(out)
        assert [(x["resource"], x["name"], x["action"]) for x in report] == [
            ("service", "demo", "updated"), ("function", "demo/hello", "updated"),
            ("trigger", "demo/hello/web", "updated"), ("trigger", "demo/hello/tick", "updated")]
        assert report[0]["response"]["description"] == "fcctl e2e", report
        puts = [(p, json.loads(b)) for m, p, _, b in srv.seen if m == "PUT"]
        assert [p for p, _ in puts] == [base + "/demo", base + "/demo/functions/hello",
                                        base + "/demo/functions/hello/triggers/web",
                                        base + "/demo/functions/hello/triggers/tick"], puts
        assert "serviceName" not in puts[0][1] and "functionName" not in puts[1][1]
        assert puts[2][1] == {"triggerConfig": web["triggerConfig"]}, puts[2]
        # A trigger whose type changed cannot be updated: a local error before any write.
        fake.docs[base + "/demo/functions/hello/triggers/web"]["triggerType"] = "timer"
        srv.seen.clear()
        r = fcctl(["deploy", d], FC_ENDPOINT=srv.endpoint)
        assert r.returncode == 4 and b"delete it first" in r.stderr, r
        assert not [p for m, p, _, _ in srv.seen if p.endswith("/web") and m != "GET"]


BAD_TEMPLATES = [
    ("not yaml", "Resources: [\n", b"template.yml:"),
    ("no transform", "ROSTemplateFormatVersion: '2015-09-01'\nResources: {}\n", b"Transform"),
    ("no services", TEMPLATE.split("Resources:")[0] + "Resources: {}\n", b"Resources: no"),
    ("bad timeout", TEMPLATE.replace("Timeout: 30", "Timeout: soon"), b"Timeout: expected"),
    ("no runtime", TEMPLATE.replace("Runtime: custom", ""), b"Runtime: required"),
    ("bad code", TEMPLATE.replace("./code", "./nothing-here"), b"CodeUri"),
    ("bad event", TEMPLATE.replace("Type: Timer", "Type: OSS"), b"OSS is not supported"),
    ("bad auth", TEMPLATE.replace("ANONYMOUS", "MAYBE"), b"AuthType"),
    ("bad name", TEMPLATE.replace("    hello:", "    9lives:"), b"function name"),
    ("a tag", TEMPLATE.replace("'fcctl e2e'", "!Ref Foo"), b"tag !Ref"),
    ("duplicate", TEMPLATE.replace("        Timeout: 30\n",
                                   "        Timeout: 30\n        Timeout: 31\n"), b"duplicate"),
    ("alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e]\n", b"nodes"),
]


def test_fcctl_deploy_bad_template_exit_4():
    fake = FakeFc()
    with Fake(fake) as srv:
        for name, text, want in BAD_TEMPLATES:
            d = project(template=text.replace("%", "%%") if "%(svc)s" not in text else text)
            r = fcctl(["deploy", d], FC_ENDPOINT=srv.endpoint)
            assert r.returncode == 4, (name, r)
            assert r.stderr.startswith(b"fcctl: ") and want in r.stderr, (name, r.stderr)
        r = fcctl(["deploy", "/nonexistent/dir"], FC_ENDPOINT=srv.endpoint)
        assert r.returncode == 4, r
        empty = tempfile.mkdtemp(prefix="fcctl-")
        r = fcctl(["deploy", empty], FC_ENDPOINT=srv.endpoint)
        assert r.returncode == 4 and b"no template.yml" in r.stderr, r
        assert srv.seen == [], srv.seen  # local errors change nothing on the server


def test_fcctl_deploy_list_get_delete():
    """Needs fcd's management API (services, functions, triggers CRUD)."""
    d = project("demo")
    with Fcd(args=["--access-key", "%s:%s" % KEY]) as f:
        os.chmod(f.dir, 0o755)  # instances may run as an unprivileged user (as test_sdk.py)

        def fcctl(args, f):  # every call signed: the management API needs it
            return globals()["fcctl"](args, f, key=KEY)
        # Unsigned: refused, nothing created.
        server_error(globals()["fcctl"](["deploy", d], f), "AccessDenied")
        out = ok(fcctl(["deploy", d], f))
        assert out.splitlines()[0] == "created service demo", out
        assert "created trigger demo/hello/tick" in out, out
        # list / get, table and JSON
        out = ok(fcctl(["service", "list"], f))
        assert re.search(r"^demo\s+fcctl e2e\s+\d{4}-", out, re.M), out
        names = [s["serviceName"] for s in json.loads(ok(fcctl(["--json", "service", "list"],
                                                               f)))["services"]]
        assert "demo" in names, names
        assert json.loads(ok(fcctl(["--json", "service", "get", "demo"], f)))[
            "description"] == "fcctl e2e"
        assert re.search(r"^description\s+fcctl e2e$", ok(fcctl(["service", "get", "demo"], f)),
                         re.M)
        out = ok(fcctl(["function", "list", "demo"], f))
        assert re.search(r"^hello\s+custom\s+256\s+30\s", out, re.M), out
        fn = json.loads(ok(fcctl(["--json", "function", "get", "demo/hello"], f)))
        assert (fn["runtime"], fn["memorySize"], fn["timeout"]) == ("custom", 256, 30), fn
        assert fn["environmentVariables"] == {"GREETING": "hi", "LEVEL": "3"}, fn
        out = ok(fcctl(["trigger", "list", "demo/hello"], f))
        assert re.search(r"^web\s+http\s", out, re.M) and re.search(r"^tick\s+timer\s", out,
                                                                    re.M), out
        trig = json.loads(ok(fcctl(["--json", "trigger", "get", "demo/hello/web"], f)))
        assert trig["triggerConfig"]["authType"] == "anonymous", trig
        # The deployed code runs: bootstrap stayed executable.
        assert ok(fcctl(["invoke", "demo/hello", "-d", "deployed"], f), ) == "hello, deployed"
        st, _, body = request(f, b"GET /2016-08-15/proxy/demo/hello/x HTTP/1.1\r\nHost: x\r\n"
                                 b"Content-Length: 0\r\n\r\n")
        assert st == 200, (st, body)
        # Deploy again: updates.
        out = ok(fcctl(["deploy", d], f))
        assert out.splitlines()[0] == "updated service demo", out
        # delete, bottom up
        assert ok(fcctl(["trigger", "delete", "demo/hello/web"], f)) == \
            "deleted trigger demo/hello/web\n"
        ok(fcctl(["trigger", "delete", "demo/hello/tick"], f))
        server_error(fcctl(["trigger", "get", "demo/hello/web"], f), "TriggerNotFound")
        assert ok(fcctl(["function", "delete", "demo/hello"], f)) == \
            "deleted function demo/hello\n"
        server_error(fcctl(["function", "get", "demo/hello"], f), "FunctionNotFound")
        assert ok(fcctl(["service", "delete", "demo"], f)) == "deleted service demo\n"
        server_error(fcctl(["service", "get", "demo"], f), "ServiceNotFound")
        server_error(fcctl(["service", "delete", "demo"], f), "ServiceNotFound")


# ---- logs ---------------------------------------------------------------------------

class Reader:
    """Collects a pipe's bytes in a thread."""

    def __init__(self, pipe):
        self.data = b""
        self.thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.thread.start()

    def _run(self, pipe):
        for chunk in iter(lambda: pipe.read1(65536), b""):
            self.data += chunk


def test_fcctl_logs_follow_on_the_wire():
    log = {"data": b"".join(b"line %d\n" % i for i in range(100))}

    def answer(h, method, path, headers, body):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)
        off, limit = int(q["offset"][0]), int(q["limit"][0])
        data = log["data"]
        start = max(len(data) - limit, 0) if off == -1 else min(off, len(data))
        chunk = data[start:start + limit]
        return 200, {"Content-Type": "text/plain", "x-fcd-log-offset": str(start + len(chunk)),
                     "x-fcd-log-size": str(len(data))}, chunk
    with Fake(answer) as srv:
        r = fcctl(["logs", "s/f", "--tail", "16"], FC_ENDPOINT=srv.endpoint)
        assert r.returncode == 0 and r.stdout == log["data"][-16:], r
        assert srv.seen[0][1] == "/2016-08-15/services/s/functions/f/logs?offset=-1&limit=16"
        srv.seen.clear()
        p = subprocess.Popen([FCCTL, "logs", "s/f", "-f"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=clean_env(srv.endpoint))
        out = Reader(p.stdout)
        try:
            assert wait_for(lambda: out.data == log["data"][-8192:], 5 * SLOW), out.data
            size0 = len(log["data"])
            log["data"] += b"appended\n"
            assert wait_for(lambda: out.data.endswith(b"line 99\nappended\n"), 5 * SLOW), out.data
            assert wait_for(lambda: len(srv.seen) >= 4, 5 * SLOW)
        finally:
            p.send_signal(signal.SIGINT)
            rc = p.wait(5 * SLOW)
        out.thread.join(5)
        assert rc == 0, (rc, p.stderr.read())
        offsets = [int(urllib.parse.parse_qs(urllib.parse.urlparse(pth).query)["offset"][0])
                   for _, pth, _, _ in srv.seen]
        assert offsets[0] == -1 and offsets[1] == size0, offsets
        assert offsets[-1] == size0 + len(b"appended\n"), offsets
        # Polls are paced (500 ms), not a busy loop.
        assert len(srv.seen) < 20, len(srv.seen)


def test_fcctl_logs():
    """Needs fcd's logs endpoint (GET .../functions/F/logs)."""
    with Fcd(args=fn_flag("c") + ["--access-key", "%s:%s" % KEY]) as f:
        def fcctl(args, f):  # every call signed
            return globals()["fcctl"](args, f, key=KEY)
        ok(fcctl(["invoke", "default/c", "-d", "log:first-marker"], f))
        out = ok(fcctl(["logs", "default/c"], f))
        assert "first-marker" in out and "FC Invoke Start RequestId:" in out, out
        tail = fcctl(["logs", "default/c", "--tail", "20"], f).stdout
        assert 0 < len(tail) <= 20 and out.encode().endswith(tail), (tail, out)
        p = subprocess.Popen([FCCTL, "logs", "default/c", "-f", "--tail", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=clean_env(endpoint_of(f), KEY))
        got = Reader(p.stdout)
        try:
            time.sleep(0.3)
            ok(fcctl(["invoke", "default/c", "-d", "log:second-marker"], f))
            assert wait_for(lambda: b"second-marker" in got.data, 5 * SLOW), got.data
            assert b"first-marker" not in got.data, got.data
        finally:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(5 * SLOW)
        assert rc == 0, (rc, p.stderr.read())
        server_error(fcctl(["logs", "default/nope"], f), "FunctionNotFound")
