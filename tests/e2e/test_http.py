"""The HTTP/1.1 front end against a real fcd: routes, keep-alive, pipelining,
bad input, limits, timeouts, drain."""
import json
import signal
import socket
import time

from fcd import Fcd, is_closed, read_response, request

GET_HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def test_healthz():
    with Fcd() as f:
        status, headers, body = request(f, GET_HEALTH)
        assert status == 200, status
        assert json.loads(body) == {"status": "ok"}
        assert len(headers["x-fc-request-id"]) == 36
        assert f.stop() == 0


def test_keepalive_and_pipelining():
    with Fcd() as f, f.connect() as s:
        for _ in range(3):
            s.sendall(GET_HEALTH)
            assert read_response(s)[0] == 200
        s.sendall(GET_HEALTH * 5 + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + GET_HEALTH)
        statuses = [read_response(s)[0] for _ in range(7)]
        assert statuses == [200] * 5 + [400, 200], statuses
        ids = set()
        s.sendall(GET_HEALTH * 3)
        for _ in range(3):
            ids.add(read_response(s)[1]["x-fc-request-id"])
        assert len(ids) == 3


def test_error_body_is_fc_json():
    with Fcd() as f:
        status, headers, body = request(
            f, b"POST /2016-08-15/services/s/functions/f/invocations HTTP/1.1\r\n"
               b"Host: x\r\nContent-Length: 2\r\n\r\nhi")
        assert status == 404
        assert headers["content-type"] == "application/json"
        err = json.loads(body)
        assert err["ErrorCode"] == err["Code"] == "FunctionNotFound"
        assert err["RequestId"] == headers["x-fc-request-id"]


def test_sigterm_drains_inflight_request():
    with Fcd() as f, f.connect() as busy, f.connect() as idle:
        idle.sendall(GET_HEALTH)
        assert read_response(idle)[0] == 200
        # A request whose body has not fully arrived is in flight.
        busy.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
        time.sleep(0.2)
        f.signal(signal.SIGTERM)
        assert is_closed(idle, 5), "idle connection closed at drain"
        time.sleep(0.2)
        busy.sendall(b"67890")
        status, headers, _ = read_response(busy)
        assert status == 400 and headers.get("connection") == "close"
        assert f.proc.wait(10) == 0
