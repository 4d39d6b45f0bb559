"""server.py — the Python example function: a custom runtime on the standard
library's http.server (ThreadingHTTPServer, HTTP/1.1 keep-alive). Listens on
0.0.0.0:$FC_SERVER_PORT (default 9000).

POST /invoke (event function): answers 'hello, ' + event ('hello, world' for
an empty event). Test events: sleep:<ms>, fail (x-fc-status 404 + JSON
error), log:<text> (to stdout and stderr), crash (exit status 3),
env:<NAME>. POST /initialize: 200. Any other request (HTTP trigger): a JSON
echo of method, path, query, some headers and the body length;
.../status/<code> answers that status, /cookies sets two cookies.
"""
import json
import os
import re
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PORT = int(os.environ.get("FC_SERVER_PORT") or os.environ.get("FC_CUSTOM_LISTEN_PORT") or 9000)
ECHO_HEADERS = ("x-fc-base-path", "content-type", "x-forwarded-for", "x-fc-client-ip")
BODY_MAX = 32 << 20


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer has Content-Length

    def log_message(self, fmt, *args):  # no access log on stderr
        pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                total += size
                if total > BODY_MAX:
                    raise ValueError("body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def answer(self, status, body, headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def kind(self):
        cp = self.headers.get("x-fc-control-path")
        if cp:
            return cp
        if self.command == "POST" and self.path in ("/invoke", "/initialize"):
            return self.path
        if self.command == "GET" and self.path in ("/pre-stop", "/pre-freeze"):
            return self.path
        return "/http-invoke"

    def handle_any(self):
        body = self.read_body()
        rid = self.headers.get("x-fc-request-id", "")
        kind = self.kind()
        if kind == "/initialize":
            print(f"FC Initialize Start RequestId: {rid}", flush=True)
            print(f"FC Initialize End RequestId: {rid}", flush=True)
            return self.answer(200, "")
        if kind not in ("/invoke", "/http-invoke"):
            return self.answer(200, "")  # pre-stop, pre-freeze
        print(f"FC Invoke Start RequestId: {rid}", flush=True)
        if kind == "/invoke":
            status, text, headers, failed = self.invoke(body.decode("utf-8", "replace"))
        else:
            status, text, headers, failed = self.echo(body)
        end = f"FC Invoke End RequestId: {rid}"
        print(end + (", Error: Unhandled function error" if failed else ""), flush=True)
        self.answer(status, text, headers)

    def invoke(self, event):
        if event.startswith("sleep:"):
            time.sleep(int(event[6:] or 0) / 1000)
        elif event in ("crash", "exit"):
            os._exit(3)
        elif event == "fail":
            err = json.dumps({"errorMessage": "requested failure"}, separators=(",", ":"))
            return 404, err, [("x-fc-status", "404"), ("Content-Type", "application/json")], True
        elif event.startswith("log:"):
            print(event[4:], flush=True)
            print(event[4:], file=sys.stderr, flush=True)
        elif event.startswith("env:"):
            return 200, os.environ.get(event[4:], ""), [], False
        return 200, "hello, " + (event or "world"), [], False

    def echo(self, body):
        url = urlsplit(self.path)
        m = re.search(r"/status/(\d+)$", url.path)
        status = int(m.group(1)) if m and 200 <= int(m.group(1)) <= 599 else 200
        headers = [("Content-Type", "application/json")]
        if url.path == "/cookies":
            headers += [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/; HttpOnly")]
        seen = {h: self.headers[h] for h in ECHO_HEADERS if self.headers.get(h) is not None}
        doc = {"method": self.command, "path": url.path, "query": url.query,
               "headers": seen, "bodyLength": len(body)}
        return status, json.dumps(doc, separators=(",", ":")), headers, False

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = handle_any


def main():
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
