#!/usr/bin/env python3
"""hold_conns.py — open N keep-alive HTTP connections to a server, make one
request on each (so each is an idle keep-alive connection, not a connection
still waiting for its first request head), then hold them idle.

    hold_conns.py --port P --conns N [--host 127.0.0.1] [--path /healthz]
                  [--max-seconds 600] [--ready-file FILE]

When every connection has had its answer, it prints (and writes to
--ready-file, atomically) one line "open=N failed=M seconds=S". Then it holds
the connections until SIGTERM/SIGINT or --max-seconds, and before exiting
prints "closed_by_peer=K open=N": K connections the server closed while held.
Standard library only; used by bench/misc.sh (scenario idle-conns)."""
import argparse
import errno
import os
import resource
import selectors
import signal
import socket
import sys
import time

IN_FLIGHT = 256  # connections being opened at once


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, required=True)
    ap.add_argument("--path", default="/healthz")
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("--ready-file")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.conns + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    req = ("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % a.path).encode()
    sel = selectors.DefaultSelector()
    held, failed, started = [], 0, 0
    t0 = time.monotonic()
    deadline = t0 + 60  # opening is bounded too
    state = {}  # sock -> [phase, bytes read]

    def start_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((a.host, a.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            return False
        state[s] = ["connect", b""]
        sel.register(s, selectors.EVENT_WRITE)
        return True

    def done(s, ok):
        nonlocal failed
        sel.unregister(s)
        del state[s]
        if ok:
            held.append(s)
        else:
            failed += 1
            s.close()

    while (started < a.conns or state) and time.monotonic() < deadline:
        while started < a.conns and len(state) < IN_FLIGHT:
            started += 1
            if not start_one():
                failed += 1
        for key, _ in sel.select(1.0):
            s = key.fileobj
            phase, buf = state[s]
            try:
                if phase == "connect":
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                        done(s, False)
                        continue
                    s.send(req)  # small: goes out whole on a fresh socket
                    state[s][0] = "read"
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                chunk = s.recv(65536)
                if not chunk:
                    done(s, False)
                    continue
                buf += chunk
                state[s][1] = buf
                head, sep, body = buf.partition(b"\r\n\r\n")
                if not sep:
                    continue
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip())
                if len(body) >= length:
                    done(s, head.startswith(b"HTTP/1.1 200"))
            except OSError:
                done(s, False)
    for s in list(state):
        done(s, False)
    failed += a.conns - started
    line = "open=%d failed=%d seconds=%.2f" % (len(held), failed, time.monotonic() - t0)
    print(line, flush=True)
    if a.ready_file:
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.rename(tmp, a.ready_file)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    end = time.monotonic() + a.max_seconds
    while not stop and time.monotonic() < end:
        time.sleep(0.2)

    closed = 0
    for s in held:
        sel.register(s, selectors.EVENT_READ)
    for key, _ in sel.select(0):
        try:
            if key.fileobj.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except OSError:
            closed += 1
    print("closed_by_peer=%d open=%d" % (closed, len(held) - closed), flush=True)
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
