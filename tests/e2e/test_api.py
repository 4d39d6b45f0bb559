"""The management API end to end (issue 6; CONTRACT.md §5): a function made
from a zip package runs, an update rolls its instances over to the new code,
the catalog survives a restart, timer triggers follow the catalog, and the
bootstrap functions of --function appear in it. Raw HTTP, auth off
(--api-anonymous); signatures and the official SDK are in test_api_auth.py
and test_sdk.py."""
import base64
import http.client
import io
import json
import os
import tempfile
import zipfile

from fcd import SLOW, Fcd, wait_for

RUNTIME = """#!/usr/bin/env python3
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"%s pid=" + str(os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["FC_SERVER_PORT"])), H).serve_forever()
"""


def package(version):
    """A zip holding an executable bootstrap that answers `version pid=N`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o100755 << 16
        z.writestr(info, RUNTIME % version)
    return base64.b64encode(buf.getvalue()).decode()


def started(fcd):
    """fcd, with its temp dir opened to the instance user (the API unpacks
    code under the data dir, and instances do not run as root)."""
    os.chmod(fcd.dir, 0o755)
    return fcd


def call(fcd, method, path, body=None, raw=None):
    c = http.client.HTTPConnection("127.0.0.1", fcd.port, timeout=30 * SLOW)
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    c.request(method, "/2016-08-15" + path, body=data,
              headers={"Content-Type": "application/json"} if data is not None else {})
    r = c.getresponse()
    out = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), out


def invoke(fcd, svc, fn):
    st, _, body = call(fcd, "POST", "/services/%s/functions/%s/invocations" % (svc, fn), raw=b"x")
    return st, body.decode(errors="replace")


def test_api_function_lifecycle_and_rollover():
    with started(Fcd(args=["--api-anonymous"])) as f:
        assert call(f, "POST", "/services", {"serviceName": "s"})[0] == 200
        st, h, body = call(f, "POST", "/services/s/functions",
                           {"functionName": "fn", "runtime": "custom.debian10", "handler": "x",
                            "code": {"zipFile": package("v1")}, "timeout": 10})
        assert st == 200, body
        doc = json.loads(body)
        assert doc["functionName"] == "fn" and doc["timeout"] == 10 and doc["caPort"] == 9000
        assert doc["codeChecksum"].isdigit() and doc["codeSize"] > 0 and "fcdCodeDir" not in doc
        assert h.get("etag")
        st, first = invoke(f, "s", "fn")
        assert st == 200 and first.startswith("v1 pid="), first
        # New code: the next invocation runs on a new instance of v2.
        st, h2, body = call(f, "PUT", "/services/s/functions/fn", {"code": {"zipFile": package("v2")}})
        assert st == 200 and json.loads(body)["timeout"] == 10, body
        st, second = invoke(f, "s", "fn")
        assert st == 200 and second.startswith("v2 pid=") and second[3:] != first[3:], second
        # The v1 instance is stopped as soon as it is idle.
        old_pid = int(first.split("pid=")[1])
        assert wait_for(lambda: not os.path.exists("/proc/%d" % old_pid), 10 * SLOW)
        # If-Match with a stale ETag: 412, nothing changes.
        c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=10)
        c.request("PUT", "/2016-08-15/services/s/functions/fn", body=b'{"timeout": 20}',
                  headers={"If-Match": h.get("etag"), "Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 412 and json.loads(r.read())["ErrorCode"] == "PreconditionFailed"
        st, _, body = call(f, "GET", "/services/s/functions/fn")
        assert json.loads(body)["timeout"] == 10
        # An HTTP trigger whose internet URL is disabled answers 403.
        st, _, body = call(f, "POST", "/services/s/functions/fn/triggers",
                           {"triggerName": "web", "triggerType": "http",
                            "triggerConfig": {"authType": "anonymous", "methods": ["GET"],
                                              "disableURLInternet": True}})
        assert st == 200, body
        # A trigger change leaves the instances alone: the same process answers.
        assert invoke(f, "s", "fn") == (200, second)
        c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=10)
        c.request("GET", "/2016-08-15/proxy/s/fn/x")
        r = c.getresponse()
        assert r.status == 403 and b"internet URL is disable" in r.read()
        # fcd's own errors through a trigger are typed so (CONTRACT.md §2.3).
        assert r.getheader("x-fc-error-type") == "FcCommonError"
        assert call(f, "DELETE", "/services/s/functions/fn/triggers/web")[0] == 204
        # Methods the API does not have: PathNotSupported (HEAD without a body).
        st, _, body = call(f, "PUT", "/services", {})
        assert st == 400 and json.loads(body)["ErrorCode"] == "PathNotSupported", body
        c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=10)
        c.request("HEAD", "/2016-08-15/services/s")
        r = c.getresponse()
        assert r.status == 400 and r.read() == b""
        c.request("GET", "/2016-08-15/services/s.v1/functions/fn")
        r = c.getresponse()
        assert r.status == 400 and b"LATEST" in r.read()
        c.close()
        # Delete: the function is gone for the data plane at once.
        assert call(f, "DELETE", "/services/s/functions/fn")[0] == 204
        st, h, body = call(f, "POST", "/services/s/functions/fn/invocations", raw=b"")
        assert st == 404 and json.loads(body)["ErrorCode"] == "FunctionNotFound"
        assert "x-fc-error-type" not in h, h  # InvokeFunction: the ErrorCode says it
        # Its code waits in the trash (instances may still run from it).
        assert not os.listdir(os.path.join(f.dir, "data", "code", "s"))
        assert [n.startswith("s.fn.") for n in
                os.listdir(os.path.join(f.dir, "data", "code", ".trash"))] == [True]


def test_api_catalog_survives_restart_and_lists_bootstrap():
    data = tempfile.mkdtemp(prefix="fcd-e2e-data-")
    os.chmod(data, 0o755)
    hello = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "hello-c")
    with Fcd(args=["--api-anonymous", "--data-dir", data, "--function", "hello=" + hello]) as f:
        assert call(f, "POST", "/services", {"serviceName": "keep", "description": "d"})[0] == 200
        assert call(f, "POST", "/services/keep/functions",
                    {"functionName": "fn", "runtime": "custom", "handler": "x",
                     "code": {"zipFile": package("v1")}})[0] == 200
        st, _, body = call(f, "GET", "/services/default/functions")
        names = [x["functionName"] for x in json.loads(body)["functions"]]
        assert names == ["hello"], body
        st, _, body = call(f, "GET", "/services/default/functions/hello/triggers")
        assert json.loads(body)["triggers"][0]["triggerType"] == "http"
    with Fcd(args=["--api-anonymous", "--data-dir", data]) as f:
        st, _, body = call(f, "GET", "/services?prefix=ke")
        assert [s["serviceName"] for s in json.loads(body)["services"]] == ["keep"], body
        assert json.loads(body)["services"][0]["description"] == "d"
        st, out = invoke(f, "keep", "fn")
        assert st == 200 and out.startswith("v1"), out
        # The configuration is declarative: a bootstrap function it no
        # longer names is gone, while the API's functions stay.
        st, out = invoke(f, "default", "hello")
        assert st == 404 and "FunctionNotFound" in out, out


def test_api_timer_trigger_follows_the_catalog():
    with started(Fcd(args=["--api-anonymous"])) as f:
        assert call(f, "POST", "/services", {"serviceName": "t"})[0] == 200
        assert call(f, "POST", "/services/t/functions",
                    {"functionName": "tick", "runtime": "custom", "handler": "x",
                     "code": {"zipFile": package("v1")}})[0] == 200
        st, _, body = call(f, "POST", "/services/t/functions/tick/triggers",
                           {"triggerName": "every", "triggerType": "timer",
                            "triggerConfig": json.dumps({"cronExpression": "@every 1s",
                                                         "payload": "p", "enable": True})})
        assert st == 200 and json.loads(body)["triggerConfig"]["cronExpression"] == "@every 1s"
        def fired():
            st, _, body = call(f, "GET", "/services/t/functions/tick/stateful-async-invocations"
                               "?includePayload=true")
            return st == 200 and any(t["status"] == "Succeeded" and '"payload":"p"' in
                                     t.get("invocationPayload", "")
                                     for t in json.loads(body).get("invocations") or [])
        assert wait_for(fired, 15 * SLOW, step=0.2)
        # A bad cron expression is refused and changes nothing.
        st, _, body = call(f, "PUT", "/services/t/functions/tick/triggers/every",
                           {"triggerConfig": {"cronExpression": "not cron"}})
        assert st == 400 and json.loads(body)["ErrorCode"] == "InvalidArgument", body
        assert call(f, "DELETE", "/services/t/functions/tick/triggers/every")[0] == 204
        assert call(f, "GET", "/services/t/functions/tick/triggers")[2] == \
            b'{"triggers":[],"nextToken":""}'


def test_api_off_without_keys_or_opt_in():
    with Fcd() as f:
        st, _, body = call(f, "GET", "/services")
        assert st == 403 and json.loads(body)["ErrorCode"] == "AccessDenied"


def test_api_refuses_an_unsigned_upload_before_its_body():
    """With keys, a management call's signature is checked at its head: a
    client without one cannot make fcd buffer a 60 MB body first."""
    import socket
    with Fcd(args=["--access-key", "ak:secret"]) as f:
        s = socket.create_connection(("127.0.0.1", f.port), timeout=10 * SLOW)
        s.sendall(b"POST /2016-08-15/services HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 60000000\r\n\r\n{")
        head = s.recv(65536)
        assert head.startswith(b"HTTP/1.1 403 "), head
        assert b"AccessDenied" in head and b"Connection: close" in head, head
        s.close()


def test_api_fcctl_deploys_the_example_template():
    """examples/template.yml (README's fcctl example) deploys and runs."""
    import subprocess
    from fcd import FCD
    fcctl = os.path.join(os.path.dirname(os.path.abspath(FCD)), "fcctl")
    examples = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
    with started(Fcd(args=["--api-anonymous"])) as f:
        endpoint = "http://127.0.0.1:%d" % f.port
        out = subprocess.run([fcctl, "--endpoint", endpoint, "deploy", examples],
                             capture_output=True, timeout=60 * SLOW, text=True)
        assert out.returncode == 0, out.stderr
        assert "created function examples/node" in out.stdout, out.stdout
        for fn in ("node", "python"):
            st, body = invoke(f, "examples", fn)
            assert st == 200 and body == "hello, x", (fn, st, body)
