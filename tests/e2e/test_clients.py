"""Real HTTP clients against fcd: curl, Python's http.client, Node's http."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile

from fcd import SLOW, Fcd

INVOKE = "/2016-08-15/services/s/functions/f/invocations"
NODE = "/usr/bin/node"


def curl(*args):
    """Run curl (silent, no proxy); returns the CompletedProcess."""
    assert shutil.which("curl"), "curl is not installed (make deps)"
    return subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", str(10 * SLOW)] +
                          list(args), capture_output=True, timeout=20 * SLOW)


def test_curl_keepalive_two_urls():
    with Fcd() as f:
        base = "http://127.0.0.1:%d" % f.port
        r = curl("-w", "%{http_code} %{num_connects}\\n", "-o", "/dev/null", "-o", "/dev/null",
                 base + "/healthz", base + "/nope")
        assert r.returncode == 0, r
        # The second URL reused the first one's connection: 0 new connects.
        assert r.stdout.decode().split("\n")[:2] == ["200 1", "400 0"], r.stdout
        r = curl("-i", base + "/healthz")
        assert r.returncode == 0 and r.stdout.startswith(b"HTTP/1.1 200 OK\r\n"), r
        body = r.stdout.split(b"\r\n\r\n", 1)[1]
        assert json.loads(body) == {"status": "ok"}
        assert b"x-fc-request-id: " in r.stdout
        r = curl("-I", "-w", "%{http_code}", base + "/healthz")
        assert r.returncode == 0 and r.stdout.endswith(b"200") and b"Content-Length: 15" in r.stdout
        assert f.stop() == 0


def test_curl_expect_100_continue():
    with Fcd() as f:
        d = tempfile.mkdtemp(prefix="fcd-e2e-")
        body = os.path.join(d, "body")
        with open(body, "wb") as b:
            b.write(b"q" * 200000)
        url = "http://127.0.0.1:%d%s" % (f.port, INVOKE)
        # --expect100-timeout 30: had fcd not answered 100, curl would wait
        # 30 s before sending the body; --max-time cuts that at 10 s.
        r = curl("-v", "-H", "Expect: 100-continue", "--expect100-timeout", "30",
                 "--data-binary", "@" + body, "-w", "%{http_code}", "-o", os.path.join(d, "out"),
                 url)
        assert r.returncode == 0, r
        assert b"< HTTP/1.1 100 Continue" in r.stderr, r.stderr
        assert r.stdout == b"404", r.stdout
        err = json.load(open(os.path.join(d, "out")))
        assert err["ErrorCode"] == "ServiceNotFound", err
        # Chunked upload too.
        r = curl("-H", "Transfer-Encoding: chunked", "--data-binary", "@" + body,
                 "-w", "%{http_code}", "-o", "/dev/null", url)
        assert r.returncode == 0 and r.stdout == b"404", r
        assert f.stop() == 0


def test_curl_http10():
    with Fcd() as f:
        base = "http://127.0.0.1:%d" % f.port
        r = curl("-v", "--http1.0", "-w", "%{http_code}", "-o", "/dev/null", base + "/healthz")
        assert r.returncode == 0 and r.stdout == b"200", r
        assert b"> GET /healthz HTTP/1.0" in r.stderr, r.stderr
        # HTTP/1.0 with keep-alive asked for: the connection is reused.
        r = curl("--http1.0", "-H", "Connection: keep-alive", "-w", "%{http_code} %{num_connects}\\n",
                 "-o", "/dev/null", "-o", "/dev/null", base + "/healthz", base + "/healthz")
        assert r.returncode == 0, r
        assert r.stdout.decode().split("\n")[:2] == ["200 1", "200 0"], r.stdout
        assert f.stop() == 0


def test_python_http_client():
    with Fcd() as f:
        c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=10 * SLOW)
        c.request("GET", "/healthz")
        r = c.getresponse()
        assert r.status == 200 and json.loads(r.read()) == {"status": "ok"}
        sock = c.sock
        c.request("GET", "/healthz", headers={"Connection": "keep-alive"})
        r = c.getresponse()
        assert r.status == 200 and r.read()
        assert c.sock is sock, "keep-alive: same socket"
        c.request("POST", INVOKE, body=b"payload", headers={"Content-Type": "application/json"})
        r = c.getresponse()
        err = json.loads(r.read())
        assert r.status == 404 and err["ErrorCode"] == "ServiceNotFound", err
        assert r.getheader("Content-Type") == "application/json"
        assert err["RequestId"] == r.getheader("x-fc-request-id")
        c.request("POST", INVOKE, body=iter([b"a" * 1000, b"b" * 70000, b"c"]),
                  encode_chunked=True)
        r = c.getresponse()
        assert r.status == 404 and r.read()
        c.request("HEAD", "/healthz")
        r = c.getresponse()
        assert r.status == 200 and r.read() == b"" and r.getheader("Content-Length") == "15"
        c.request("GET", "/nope")
        r = c.getresponse()
        assert r.status == 400 and json.loads(r.read())["ErrorCode"] == "PathNotSupported"
        # The management API is off without access keys or --api-anonymous.
        c.request("DELETE", "/2016-08-15/services/s")
        r = c.getresponse()
        assert r.status == 403 and json.loads(r.read())["ErrorCode"] == "AccessDenied"
        assert c.sock is sock
        c.close()
        assert f.stop() == 0


NODE_SCRIPT = r"""
const http = require('http');
const port = Number(process.argv[1]);
const agent = new http.Agent({keepAlive: true, maxSockets: 1});
function call(method, path, opts) {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, method, path, agent,
                              headers: opts.headers || {}}, res => {
      const parts = [];
      res.on('data', d => parts.push(d));
      res.on('end', () => resolve({status: res.statusCode, reused: req.reusedSocket,
        body: Buffer.concat(parts).toString(), type: res.headers['content-type'] || '',
        rid: res.headers['x-fc-request-id'] || '', cont: !!opts.sawContinue}));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    if (opts.expect) {
      req.on('continue', () => { opts.sawContinue = true; req.end(opts.body); });
    } else if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else {
      req.end(opts.body);
    }
  });
}
(async () => {
  const out = [];
  out.push(await call('GET', '/healthz', {}));
  out.push(await call('GET', '/nope', {}));
  out.push(await call('POST', '/2016-08-15/services/s/functions/f/invocations',
                      {body: 'x'.repeat(300000), headers: {'Content-Type': 'application/json'}}));
  out.push(await call('POST', '/2016-08-15/services/s/functions/f/invocations',
                      {chunks: ['a'.repeat(100), 'b'.repeat(70000), 'c']}));
  const body = 'e'.repeat(5000);
  out.push(await call('POST', '/2016-08-15/services/s/functions/f/invocations',
                      {expect: true, body, headers: {'Expect': '100-continue',
                                                     'Content-Length': body.length}}));
  out.push(await call('HEAD', '/healthz', {}));
  console.log(JSON.stringify(out));
  agent.destroy();
})().catch(e => { console.error(String(e)); process.exit(3); });
"""


def test_node_http():
    assert os.access(NODE, os.X_OK), "node is not installed (make deps)"
    with Fcd() as f:
        r = subprocess.run([NODE, "-e", NODE_SCRIPT, str(f.port)], capture_output=True,
                           timeout=30 * SLOW)
        assert r.returncode == 0, r
        out = json.loads(r.stdout)
        assert [o["status"] for o in out] == [200, 400, 404, 404, 404, 200], out
        assert json.loads(out[0]["body"]) == {"status": "ok"}
        for o in out[1:5]:
            err = json.loads(o["body"])
            assert o["type"] == "application/json" and err["RequestId"] == o["rid"], o
        assert [json.loads(o["body"])["ErrorCode"] for o in out[1:5]] == \
            ["PathNotSupported", "ServiceNotFound", "ServiceNotFound", "ServiceNotFound"]
        assert out[4]["cont"], "node saw 100 Continue"
        assert out[5]["body"] == ""
        assert [o["reused"] for o in out] == [False] + [True] * 5, out
        assert f.stop() == 0
