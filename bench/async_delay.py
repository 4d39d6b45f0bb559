#!/usr/bin/env python3
"""async_delay.py — delay lateness of fcd's delayed async jobs (BENCH.md P5).

    async_delay.py --port P --function F [--service default] [--jobs 1000]
                   [--window 2] [--delays 1,2,3] [--conns 32] [--log FUNCTION_LOG]
                   [--samples OUT.tsv] [--wait-max 30]

Submits --jobs async invocations (X-Fc-Invocation-Type: Async) evenly spread
over --window seconds from --conns keep-alive connections, job i with
x-fc-async-delay = delays[i % len(delays)], so the due times spread over
[min delay, window + max delay]. Once all are due, it reads each job's record
from the task API (GET .../stateful-async-invocations/{request id}, polling
until it is final or --wait-max passes) and computes, in ms:

    lateness = Running event timestamp - (Enqueued timestamp + delay)

and, with --log (the function's log in fcd's data dir), the same from the
"FC Invoke Start RequestId: <id>" line of the run, i.e. when the instance got
it. Timestamps are whole ms, so every lateness is good to ±1 ms.

Output: per-job rows in --samples (TSV with a header), and one line
"jobs=N ok=N errors=N early=N run=<n min p50 p90 p99 max mean> start=<...>
submit_s=S" (distributions as n,min,p50,p90,p99,max,mean; "none" when empty).
errors = jobs without a lateness (submit not answered 202, not final in time,
not Succeeded, or without Enqueued / Running events); early = jobs whose Running came before their due time.
Standard library only; used by bench/async.sh (scenario async-delay)."""
import argparse
import calendar
import json
import re
import socket
import sys
import threading
import time

FINAL = ("Succeeded", "Failed", "Stopped", "Expired")


def read_response(sock, buf):
    """(status, headers, body, leftover) of one Content-Length framed response."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", 0))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in a body")
        rest += chunk
    return status, headers, rest[:length], rest[length:]


def connect(host, port):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def dist(xs):
    if not xs:
        return "none"
    xs = sorted(xs)
    n = len(xs)

    def pct(p):
        return xs[max(0, min(n - 1, int(p / 100 * n + 0.999999) - 1))]
    return "%d,%s,%s,%s,%s,%s,%.3f" % (n, xs[0], pct(50), pct(90), pct(99), xs[-1], sum(xs) / n)


def log_ms(stamp):
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z", stamp)
    if not m:
        return None
    whole = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    frac = m.group(7) or "0"
    return whole * 1000 + int(frac) * 1000 // 10 ** len(frac)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--service", default="default")
    ap.add_argument("--function", required=True)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--window", type=float, default=2.0)
    ap.add_argument("--delays", default="1,2,3")
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--log")
    ap.add_argument("--samples")
    ap.add_argument("--wait-max", type=float, default=30.0)
    a = ap.parse_args()
    delays = [int(d) for d in a.delays.split(",")]
    base = "/2016-08-15/services/%s/functions/%s" % (a.service, a.function)
    jobs = [None] * a.jobs  # i -> (request id, delay) or None (submit failed)
    errors = []

    def submitter(k, t0):
        try:
            s, buf = connect(a.host, a.port), b""
            for i in range(k, a.jobs, a.conns):
                wait = t0 + i * a.window / a.jobs - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                d = delays[i % len(delays)]
                s.sendall(("POST %s/invocations HTTP/1.1\r\nHost: bench\r\n"
                           "X-Fc-Invocation-Type: Async\r\nx-fc-async-delay: %d\r\n"
                           "Content-Length: 1\r\n\r\nx" % (base, d)).encode())
                st, h, body, buf = read_response(s, buf)
                if st == 202 and h.get("x-fc-request-id"):
                    jobs[i] = (h["x-fc-request-id"], d)
                else:
                    errors.append("submit %d: HTTP %d %r" % (i, st, body[:200]))
            s.close()
        except (OSError, ValueError, IndexError) as e:
            errors.append("submitter %d: %r" % (k, e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=submitter, args=(k, t0 + 0.05), daemon=True)
               for k in range(min(a.conns, a.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(a.window + 60)
    submit_s = time.monotonic() - t0
    # Everything is due max(delays) after the last submit; wait for that first.
    time.sleep(max(0.0, max(delays) + 0.3 - (time.monotonic() - t0 - a.window)))

    records = {}
    pending = [i for i in range(a.jobs) if jobs[i] is not None]
    end = time.monotonic() + a.wait_max
    s, buf = connect(a.host, a.port), b""
    while pending and time.monotonic() < end:
        left = []
        for i in pending:
            s.sendall(("GET %s/stateful-async-invocations/%s HTTP/1.1\r\nHost: bench\r\n\r\n"
                       % (base, jobs[i][0])).encode())
            st, _, body, buf = read_response(s, buf)
            doc = json.loads(body) if st == 200 else None
            if doc is not None and doc.get("status") in FINAL:
                records[i] = doc
            else:
                left.append(i)
        pending = left
        if pending:
            time.sleep(0.2)
    s.close()
    for i in pending:
        errors.append("job %d (%s) not final after the wait" % (i, jobs[i][0]))

    starts = {}
    if a.log:
        try:
            with open(a.log, errors="replace") as f:
                for line in f:
                    parts = line.split(" ", 3)
                    if len(parts) == 4 and parts[3].startswith("FC Invoke Start RequestId: "):
                        rid = parts[3].split()[4].rstrip(",")
                        ms = log_ms(parts[0])
                        if ms is not None and rid not in starts:
                            starts[rid] = ms
        except OSError as e:
            errors.append("log: %r" % e)

    run_late, start_late, early, rows = [], [], 0, []
    for i, doc in sorted(records.items()):
        rid, d = jobs[i]
        ev = {}
        for e in doc.get("events", []):
            ev.setdefault(e["status"], e["timestamp"])
        if doc["status"] != "Succeeded" or "Enqueued" not in ev or "Running" not in ev:
            errors.append("job %d (%s): %s %s" % (i, rid, doc["status"], list(ev)))
            continue
        due = ev["Enqueued"] + d * 1000
        late = ev["Running"] - due
        run_late.append(late)
        early += late < 0
        st = starts.get(rid)
        if st is not None:
            start_late.append(st - due)
        rows.append("%d\t%d\t%d\t%d\t%s\t%d\t%s" % (i, d, ev["Enqueued"], ev["Running"],
                                                 st if st is not None else "",
                                                 late, st - due if st is not None else ""))
    if a.samples:
        with open(a.samples, "w") as f:
            f.write("job\tdelay_s\tenqueued_ms\trunning_ms\tstart_ms\tlateness_running_ms"
                    "\tlateness_start_ms\n")
            f.write("".join(r + "\n" for r in rows))
    for e in errors[:5]:
        print("# " + e, file=sys.stderr)
    # Every job without a lateness (not submitted, not final, failed) is an error.
    print("jobs=%d ok=%d errors=%d early=%d run=%s start=%s submit_s=%.2f" % (
        a.jobs, len(run_late), a.jobs - len(run_late), early, dist(run_late),
        dist(start_late), submit_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
