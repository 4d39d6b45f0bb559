"""Durable asynchronous invocation end to end (issue 5; CONTRACT.md §2.1-2.2
async headers, §5.5-5.6 async config and task records): 202 after the
durable commit, the job's run, HTTP-trigger jobs, x-fc-async-delay, caller
task ids and idempotency, retries with back-off, stop, the task list,
durability across SIGKILL, group commit under load, the async payload limit
and the maximum event age. Runs are counted from the function log: the C
example's runtime prints "FC Invoke Start RequestId: <task id>" per run."""
import json
import os
import re
import signal
import socket
import threading
import time

from fcd import (SLOW, UUID_RE, Fcd, async_invoke, check_error, function_log_path, invoke,
                 invoke_log_lines, log_time_s, pids_with_env, read_response, read_text,
                 request, task_get, task_request, wait_for, wait_task)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HELLO_C = os.path.join(ROOT, "examples", "hello-c")
ASYNC = ("X-Fc-Invocation-Type", "Async")
FINAL = ("Succeeded", "Failed", "Stopped", "Expired")


def fn_flag(name, code_dir=HELLO_C, **opts):
    return ["--function", ",".join(["%s=%s" % (name, code_dir)] +
                                   ["%s=%s" % kv for kv in opts.items()])]


def config(functions, **top):
    """JSON config text: service "svc" with these functions (C example by default)."""
    fns = {k: dict({"code_dir": HELLO_C}, **v) for k, v in functions.items()}
    doc = {"services": {"svc": {"functions": fns}}}
    doc.update(top)
    return json.dumps(doc)


def starts(f, fn, task_id=None, service="default"):
    """The "FC Invoke Start" lines of fn's log (of one task when given)."""
    return invoke_log_lines(read_text(function_log_path(f, fn, service)), "Start", task_id)


def check_task_error(status, headers, body, want_status, want_code):
    """An FC JSON error from the task API or an async completion (whose
    RequestId need not be a fresh UUID)."""
    assert status == want_status, (status, body)
    assert headers.get("content-type") == "application/json", headers
    err = json.loads(body) if isinstance(body, (bytes, str)) else body
    assert err["ErrorCode"] == err["Code"] == want_code, err
    assert err["ErrorMessage"] == err["Message"] and err["ErrorMessage"], err
    assert err["RequestId"] == headers["x-fc-request-id"], (err, headers)
    return err


def statuses(doc):
    return [e["status"] for e in doc["events"]]


def list_all(f, fn, query="", service="default", limit=None):
    """Every task of fn through pagination: (tasks, pages)."""
    tasks, token, pages = [], None, 0
    while True:
        q = [x for x in (query, "limit=%d" % limit if limit else "",
                         "nextToken=%s" % token if token else "") if x]
        st, h, doc = task_request(f, "GET", fn, query="&".join(q), service=service)
        assert st == 200, (st, doc)
        pages += 1
        assert pages < 1000, "pagination does not end"
        page = doc.get("invocations", [])
        assert "invocations" not in doc or page, doc  # absent when empty, never []
        if limit:
            assert len(page) <= limit, (limit, len(page))
        tasks += page
        token = doc.get("nextToken")
        if not token:
            return tasks, pages


# ---- 1. the basic path ---------------------------------------------------------------

def test_async_invoke_runs_and_records():
    """202 quickly with an empty body and a request id; the function runs at
    once; the task record tells the whole story (CONTRACT.md §2.2, §5.6)."""
    with Fcd(args=fn_flag("c")) as f:
        assert invoke(f, "c", b"warm")[0] == 200
        t_send = time.time()
        st, h, body = async_invoke(f, "c", b"abc")
        t_ack = time.time()
        assert st == 202 and body == b"", (st, h, body)
        assert int(h["content-length"]) == 0, h
        rid = h["x-fc-request-id"]
        assert re.fullmatch(UUID_RE, rid), h
        assert "x-fc-stateful-async-invocation-id" not in h, h  # not task mode
        assert t_ack - t_send < 1.0 * SLOW, t_ack - t_send
        # The run: its Start line within ~1 s.
        assert wait_for(lambda: starts(f, "c", rid), 1.0 * SLOW), read_text(
            function_log_path(f, "c"))
        doc = wait_task(f, "c", rid, FINAL, 5)
        assert doc is not None and doc["status"] == "Succeeded", doc
        assert doc["returnPayload"] == "hello, abc", doc
        assert doc["invocationId"] == doc["requestId"] == rid, doc
        assert (doc["serviceName"], doc["functionName"]) == ("default", "c"), doc
        assert doc["invocationPayload"] == "abc", doc  # a single get includes it
        assert doc["alreadyRetriedTimes"] == 0, doc
        assert doc["invocationErrorMessage"] == "", doc
        assert statuses(doc) == ["Enqueued", "Running", "Succeeded"], doc
        stamps = [e["timestamp"] for e in doc["events"]]
        assert stamps == sorted(stamps), doc
        # ms since the epoch, around the time of the call
        lo, hi = int(t_send * 1000) - 50, int(time.time() * 1000) + 50
        assert lo <= doc["startedTime"] <= doc["endTime"] <= hi, (lo, hi, doc)
        assert all(lo <= s <= hi for s in stamps), (lo, hi, doc)
        assert doc["endTime"] == stamps[-1], doc
        # The instance that ran it is the one in the log.
        (_, iid, _, _), = starts(f, "c", rid)
        assert doc["instanceId"] == iid, (doc, iid)
        # Another function's path does not show this task.
        st, other = task_get(f, "nope", rid)
        assert st == 404, (st, other)
        assert f.stop() == 0


# ---- 2. HTTP trigger ------------------------------------------------------------------

def test_async_http_trigger():
    """X-Fc-Invocation-Type: Async through an HTTP trigger: 202, and the
    instance gets the original request (the C example echoes it)."""
    # No "methods": all allowed (see test_http_trigger_methods for the mask).
    cfg = config({"h": {"http_trigger": {"auth_type": "anonymous"}}})
    with Fcd(config=cfg) as f:
        body = b"0123456789"
        st, h, resp = request(f, b"PUT /2016-08-15/proxy/svc/h/some/path?q=1&r=two HTTP/1.1\r\n"
                                 b"Host: x\r\nX-Fc-Invocation-Type: Async\r\n"
                                 b"Content-Type: text/plain\r\nContent-Length: 10\r\n\r\n" + body,
                              10 * SLOW)
        assert st == 202 and resp == b"", (st, h, resp)
        rid = h["x-fc-request-id"]
        assert re.fullmatch(UUID_RE, rid), h
        doc = wait_task(f, "h", rid, FINAL, 5, service="svc")
        assert doc is not None and doc["status"] == "Succeeded", doc
        echo = json.loads(doc["returnPayload"])
        assert echo["method"] == "PUT", echo
        assert echo["path"] == "/2016-08-15/proxy/svc/h/some/path", echo
        assert echo["query"] == "q=1&r=two", echo
        assert echo["bodyLength"] == 10, echo
        assert echo["headers"].get("content-type") == "text/plain", echo
        assert echo["headers"].get("x-fc-base-path") == "/2016-08-15/proxy/svc/h/", echo
        assert len(starts(f, "h", rid, "svc")) == 1
        # A GET with no body works too; a sync call through the trigger still does.
        st, h, resp = request(f, b"GET /2016-08-15/proxy/svc/h/g HTTP/1.1\r\nHost: x\r\n"
                                 b"X-Fc-Invocation-Type: async\r\n\r\n", 10 * SLOW)
        assert st == 202 and resp == b"", (st, h, resp)
        doc = wait_task(f, "h", h["x-fc-request-id"], FINAL, 5, service="svc")
        assert doc["status"] == "Succeeded", doc
        echo = json.loads(doc["returnPayload"])
        assert (echo["method"], echo["path"], echo["bodyLength"]) == (
            "GET", "/2016-08-15/proxy/svc/h/g", 0), echo
        st, h, resp = request(f, b"GET /2016-08-15/proxy/svc/h/s HTTP/1.1\r\nHost: x\r\n\r\n",
                              10 * SLOW)
        assert st == 200 and json.loads(resp)["path"] == "/2016-08-15/proxy/svc/h/s", (st, resp)
        assert f.stop() == 0


# ---- 3. x-fc-async-delay ---------------------------------------------------------------

def test_async_delay():
    """x-fc-async-delay: 2 runs no earlier than 2 s after the call and not much
    later; out-of-range or malformed delays are 400 InvalidArgument, stored
    nothing (CONTRACT.md §2.1)."""
    with Fcd(args=fn_flag("c")) as f:
        assert invoke(f, "c", b"warm")[0] == 200
        t_send = time.time()
        st, h, body = async_invoke(f, "c", b"later", headers=[("x-fc-async-delay", "2")])
        t_ack = time.time()
        assert st == 202 and body == b"", (st, h, body)
        rid = h["x-fc-request-id"]
        st, h0, _ = async_invoke(f, "c", b"now", headers=[("x-fc-async-delay", "0")])
        assert st == 202, st
        # Bad delays, while the job waits.
        for bad in ("3601", "-1", "x", "", "1.5", "2s", "0x10", "99999999999999999999"):
            st, h, body = async_invoke(f, "c", b"bad", headers=[("x-fc-async-delay", bad)])
            check_error(st, h, body, 400, "InvalidArgument")
        # Not early: nothing at 1.5 s.
        time.sleep(max(0.0, t_send + 1.5 - time.time()))
        assert starts(f, "c", rid) == [], "ran early"
        doc = wait_task(f, "c", rid, FINAL, 3)
        assert doc is not None and doc["status"] == "Succeeded", doc
        (t_start, _, _, _), = starts(f, "c", rid)
        assert t_start >= t_send + 2.0 - 0.002, (t_start - t_send)  # log stamps are in ms
        assert t_start - t_ack <= 2.5 * SLOW, (t_start - t_ack)
        ev = {e["status"]: e["timestamp"] for e in doc["events"]}
        assert 2000 <= ev["Running"] - ev["Enqueued"] <= 2500 * SLOW, doc
        assert doc["startedTime"] == ev["Enqueued"] and doc["endTime"] >= ev["Running"], doc
        assert doc["returnPayload"] == "hello, later", doc
        # The delay-0 job ran at once; no bad one was stored.
        assert wait_task(f, "c", h0["x-fc-request-id"], FINAL, 2)["status"] == "Succeeded"
        st, _, doc = task_request(f, "GET", "c")
        assert st == 200 and len(doc["invocations"]) == 2, doc
        # 3600 is in range.
        st, h, _ = async_invoke(f, "c", b"max", headers=[("x-fc-async-delay", "3600")])
        assert st == 202, st
        doc = task_get(f, "c", h["x-fc-request-id"])[1]
        assert doc["status"] == "Enqueued", doc
        assert f.stop() == 0


def test_async_delay_never_early():
    """Under a steady stream of submits (commits take time), no delayed job
    runs before its due time: Running - Enqueued >= the delay, every job."""
    with Fcd(config=config({"c": {"max_instances": 20}})) as f:
        assert invoke(f, "c", b"warm", "svc")[0] == 200
        ids, lock = [], threading.Lock()

        def client():
            with f.connect(10 * SLOW) as s:
                for _ in range(15):
                    s.sendall(b"POST /2016-08-15/services/svc/functions/c/invocations HTTP/1.1"
                              b"\r\nHost: x\r\nX-Fc-Invocation-Type: Async\r\n"
                              b"x-fc-async-delay: 1\r\nContent-Length: 1\r\n\r\nx")
                    st, h, _ = read_response(s)
                    assert st == 202
                    with lock:
                        ids.append(h["x-fc-request-id"])
                    time.sleep(0.013)
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(ids) == 60
        lateness = []
        for tid in ids:
            doc = wait_task(f, "c", tid, FINAL, 4, "svc")
            assert doc["status"] == "Succeeded", doc
            ev = {e["status"]: e["timestamp"] for e in doc["events"]}
            lateness.append(ev["Running"] - ev["Enqueued"] - 1000)
        lateness.sort()
        print("# delay 1 s lateness ms: min %d, median %d, max %d" % (
            lateness[0], lateness[len(lateness) // 2], lateness[-1]))
        assert lateness[0] >= 0, "ran %d ms early" % -lateness[0]
        assert lateness[-1] <= 100 * SLOW, lateness[-1]
        assert f.stop() == 0


# ---- 4. caller task ids ---------------------------------------------------------------

def test_async_task_ids():
    """X-Fc-Stateful-Async-Invocation-Id: a duplicate id is a 202 but runs
    once; ids outside FC's rule are 400; task mode answers the id header."""
    cfg = config({"c": {}, "t": {"async": {"stateful": True}}})
    with Fcd(config=cfg) as f:
        def submit(tid, event=b"log:once", fn="c", extra=()):
            return async_invoke(f, fn, event, "svc",
                                [("X-Fc-Stateful-Async-Invocation-Id", tid)] + list(extra))
        st, h, body = submit("job_1")
        assert st == 202 and body == b"", (st, h, body)
        assert h["x-fc-stateful-async-invocation-id"] == "job_1", h
        first_rid = h["x-fc-request-id"]
        # Duplicate while the first is still queued (delayed) and after it ran.
        st, h, _ = submit("dup-delayed", extra=[("x-fc-async-delay", "1")])
        assert st == 202, st
        st, h, body = submit("dup-delayed", extra=[("x-fc-async-delay", "1")])
        assert st == 202 and body == b"", (st, body)
        assert h["x-fc-stateful-async-invocation-id"] == "dup-delayed", h
        doc = wait_task(f, "c", "job_1", FINAL, 3, "svc")
        assert doc["status"] == "Succeeded" and doc["returnPayload"] == "hello, log:once", doc
        assert doc["requestId"] == first_rid, (doc, first_rid)  # CONTRACT.md §2.2 (Java test)
        st, h, _ = submit("job_1", b"log:twice")
        assert st == 202 and h["x-fc-stateful-async-invocation-id"] == "job_1", (st, h)
        assert wait_task(f, "c", "dup-delayed", FINAL, 3, "svc")["status"] == "Succeeded"
        time.sleep(1.2)  # a second run would show by now
        assert len(starts(f, "c", "job_1", "svc")) == 1, starts(f, "c", None, "svc")
        assert len(starts(f, "c", "dup-delayed", "svc")) == 1, starts(f, "c", None, "svc")
        doc = task_get(f, "c", "job_1", "svc")[1]
        assert doc["invocationPayload"] == "log:once", doc  # the first submit's record stays
        assert statuses(doc) == ["Enqueued", "Running", "Succeeded"], doc
        # FC's rule: a letter or '_' first, [A-Za-z0-9_-], at most 128.
        for bad in ("1abc", "a b", "a" * 129, "-abc", "abc.def", "abc/def", "\u00e9t\u00e9",
                    "a%20b", "x" * 200):
            st, h, body = submit(bad)
            check_error(st, h, body, 400, "InvalidArgument")
        for good in ("a" * 128, "_x-Y9", "Z"):
            st, h, _ = submit(good, b"hi")
            assert st == 202 and h["x-fc-stateful-async-invocation-id"] == good, (good, st, h)
            assert wait_task(f, "c", good, FINAL, 3, "svc")["status"] == "Succeeded", good
        # Task mode: by config (the generated id), by the request switch; not otherwise.
        st, h, _ = async_invoke(f, "t", b"x", "svc")
        assert st == 202, st
        assert h["x-fc-stateful-async-invocation-id"] == h["x-fc-request-id"], h
        assert re.fullmatch(UUID_RE, h["x-fc-request-id"]), h
        st, h, _ = async_invoke(f, "c", b"x", "svc",
                                [("X-Fc-Stateful-Async-Invocation-Enable", "true")])
        assert st == 202 and h["x-fc-stateful-async-invocation-id"] == h["x-fc-request-id"], h
        st, h, _ = async_invoke(f, "c", b"x", "svc")
        assert st == 202 and "x-fc-stateful-async-invocation-id" not in h, h
        # Let the last runs end: stopping during a cold start is another test's.
        assert wait_for(lambda: len(starts(f, "t", None, "svc")) == 1, 3 * SLOW)
        assert wait_task(f, "c", h["x-fc-request-id"], FINAL, 3, "svc")["status"] == "Succeeded"
        assert f.stop() == 0


# ---- 5. retries -----------------------------------------------------------------------

def test_async_retries():
    """Function errors and crashes are retried per max_retries with
    back-off 1 s, 2 s, ...; the record counts them (CONTRACT.md §5.5, §5.6)."""
    cfg = config({"r2": {"async": {"max_retries": 2}},
                  "r0": {"async": {"max_retries": 0}},
                  "cr": {"async": {"max_retries": 1}},
                  "dflt": {}})
    with Fcd(config=cfg) as f:
        ids = {}
        for fn, event in (("r2", b"fail"), ("r0", b"fail"), ("cr", b"crash"), ("dflt", b"fail")):
            st, h, _ = async_invoke(f, fn, event, "svc")
            assert st == 202, (fn, st)
            ids[fn] = h["x-fc-request-id"]
        # max_retries 0: one run, Failed.
        doc = wait_task(f, "r0", ids["r0"], FINAL, 3, "svc")
        assert doc["status"] == "Failed", doc
        assert doc["alreadyRetriedTimes"] == 0, doc
        assert "UnhandledInvocationError" in doc["invocationErrorMessage"], doc
        # max_retries 2: three runs, gaps ~1 s and ~2 s.
        doc = wait_task(f, "r2", ids["r2"], FINAL, 6, "svc")
        assert doc["status"] == "Failed", doc
        assert doc["alreadyRetriedTimes"] == 2, doc
        assert "UnhandledInvocationError" in doc["invocationErrorMessage"], doc
        assert doc["returnPayload"] in ("", '{"errorMessage":"requested failure"}'), doc
        st = statuses(doc)
        assert st.count("Running") == 3 and st[0] == "Enqueued" and st[-1] == "Failed", doc
        assert "UnhandledInvocationError" in doc["events"][-1]["eventDetail"], doc
        runs = starts(f, "r2", ids["r2"], "svc")
        assert len(runs) == 3, runs
        gap1, gap2 = runs[1][0] - runs[0][0], runs[2][0] - runs[1][0]
        assert 1.0 <= gap1 <= 1.0 + 0.5 * SLOW, (gap1, gap2)
        assert 2.0 <= gap2 <= 2.0 + 0.5 * SLOW, (gap1, gap2)
        # The crash: two runs, each a fresh instance; Failed with the crash text.
        doc = wait_task(f, "cr", ids["cr"], FINAL, 4, "svc")
        assert doc["status"] == "Failed" and doc["alreadyRetriedTimes"] == 1, doc
        assert "UnhandledInvocationError" in doc["invocationErrorMessage"], doc
        assert "exited unexpectedly" in doc["invocationErrorMessage"], doc
        runs = starts(f, "cr", ids["cr"], "svc")
        assert len(runs) == 2 and runs[0][1] != runs[1][1], runs
        assert 1.0 <= runs[1][0] - runs[0][0] <= 1.0 + 1.0 * SLOW, runs
        # No run after the final state.
        assert len(starts(f, "r0", ids["r0"], "svc")) == 1
        # Default config (3 retries, CONTRACT.md §5.5): 3 runs (0, +1, +3 s), then
        # waiting for the fourth (+7 s); a stop ends it without it.
        assert wait_for(lambda: len(starts(f, "dflt", ids["dflt"], "svc")) >= 3, 2 * SLOW)
        time.sleep(0.3)
        doc = task_get(f, "dflt", ids["dflt"], "svc")[1]
        assert doc["status"] == "Enqueued" and doc["alreadyRetriedTimes"] == 2, doc
        assert len(starts(f, "dflt", ids["dflt"], "svc")) == 3
        st, h, body = task_request(f, "PUT", "dflt", ids["dflt"], service="svc")
        assert st == 200, (st, body)
        doc = task_get(f, "dflt", ids["dflt"], "svc")[1]
        assert doc["status"] == "Stopped", doc
        assert f.stop() == 0


# ---- 6. stop --------------------------------------------------------------------------

def test_async_stop():
    """PUT .../stateful-async-invocations/{id} stops a queued or running task;
    a finished task is 400 InvalidArgument; an unknown one 404."""
    cfg = config({"c": {"timeout_s": 10}})
    with Fcd(config=cfg) as f:
        def submit(event, delay=None):
            hs = [("x-fc-async-delay", str(delay))] if delay is not None else []
            st, h, _ = async_invoke(f, "c", event, "svc", hs)
            assert st == 202, st
            return h["x-fc-request-id"]

        def stop(tid, fn="c"):
            return task_request(f, "PUT", fn, tid, service="svc")
        far, near, running = submit(b"far", 30), submit(b"near", 1), submit(b"sleep:5000")
        # Queued: far in LMDB only, near loaded into the timer wheel.
        for tid in (far, near):
            st, h, body = stop(tid)
            assert st == 200, (st, body)
            # The stop call's own request id, not the task's.
            assert re.fullmatch(UUID_RE, h["x-fc-request-id"]) and h["x-fc-request-id"] != tid, h
            doc = task_get(f, "c", tid, "svc")[1]
            assert doc["status"] == "Stopped" and statuses(doc)[-1] == "Stopped", doc
        # Running: the instance request is cancelled.
        assert wait_for(lambda: starts(f, "c", running, "svc"), 2 * SLOW)
        t_stop = time.monotonic()
        st, h, body = stop(running)
        assert st == 200, (st, body)
        doc = wait_task(f, "c", running, FINAL, 2, "svc")
        assert doc["status"] == "Stopped", doc
        assert time.monotonic() - t_stop < 2 * SLOW
        log = read_text(function_log_path(f, "c", "svc"))
        ends = invoke_log_lines(log, "End", running)
        assert len(ends) == 1, log
        (t_start, _, _, _), = starts(f, "c", running, "svc")
        assert "Invocation canceled by client" in ends[0][3] or ends[0][0] - t_start < 4.0, log
        # Nothing stopped ever ran; nothing ran twice.
        time.sleep(max(0.0, 1.5 - (time.monotonic() - t_stop)))
        assert starts(f, "c", far, "svc") == [] and starts(f, "c", near, "svc") == []
        assert len(starts(f, "c", running, "svc")) == 1
        # The instance survives or is replaced: a sync call works.
        assert invoke(f, "c", b"after", "svc")[:3:2] == (200, b"hello, after")
        assert f.stop() == 0


def test_async_stop_finished_or_unknown():
    """Stopping a finished task (Succeeded, Stopped) is 400 InvalidArgument and
    an unknown id 404, answered at once (CONTRACT.md §5.6), on an otherwise
    idle fcd (nothing else to commit)."""
    with Fcd(args=fn_flag("c")) as f:
        st, h, _ = async_invoke(f, "c", b"quick")
        done = h["x-fc-request-id"]
        st, h, _ = async_invoke(f, "c", b"later", headers=[("x-fc-async-delay", "30")])
        stopped = h["x-fc-request-id"]
        assert task_request(f, "PUT", "c", stopped)[0] == 200
        assert wait_task(f, "c", done, FINAL, 3)["status"] == "Succeeded"
        for tid in (done, stopped):
            t0 = time.monotonic()
            st, h, body = task_request(f, "PUT", "c", tid, timeout=3)
            err = check_task_error(st, h, body, 400, "InvalidArgument")
            assert err["RequestId"] == h["x-fc-request-id"] != tid, (err, h)
            assert time.monotonic() - t0 < 1.0 * SLOW
        for method in ("PUT", "GET"):
            st, h, body = task_request(f, method, "c", "no-such-task", timeout=3)
            check_task_error(st, h, body, 404, "StatefulAsyncInvocationNotFound")
        assert task_get(f, "c", stopped)[1]["status"] == "Stopped"
        assert f.stop() == 0


def test_async_stop_other_function_path():
    """A task is reachable only under its own function's path: GET and PUT
    through another function's path are 404, and the PUT stops nothing."""
    cfg = config({"c": {}, "d": {}})
    with Fcd(config=cfg) as f:
        st, h, _ = async_invoke(f, "c", b"x", "svc", [("x-fc-async-delay", "30")])
        tid = h["x-fc-request-id"]
        st, doc = task_get(f, "d", tid, "svc")
        assert st == 404, (st, doc)
        st, h, body = task_request(f, "PUT", "d", tid, service="svc")
        status = task_get(f, "c", tid, "svc")[1]["status"]
        assert (st, status) == (404, "Enqueued"), (st, body, status)
        assert f.stop() == 0


def test_async_task_id_scoped_to_function():
    """Task ids are per function (the task API addresses a task by service,
    function and id): the same caller id on another function is that
    function's own task and runs; it is not silently dropped."""
    cfg = config({"c": {}, "d": {}})
    with Fcd(config=cfg) as f:
        hdr = [("X-Fc-Stateful-Async-Invocation-Id", "shared")]
        st, h, _ = async_invoke(f, "c", b"one", "svc", hdr + [("x-fc-async-delay", "30")])
        assert st == 202
        st, h, body = async_invoke(f, "d", b"two", "svc", hdr)
        if st == 202:  # accepted: then it must be d's task and run
            doc = wait_task(f, "d", "shared", FINAL, 3, "svc")
            assert doc is not None and doc["status"] == "Succeeded", \
                ("202 but d's task does not exist", task_get(f, "d", "shared", "svc"),
                 starts(f, "d", None, "svc"))
        else:  # or refused outright, never a 202 for a job that will not run
            assert st in (400, 409), (st, body)
        assert f.stop() == 0


# ---- 7. list --------------------------------------------------------------------------

def test_async_list():
    """GET .../stateful-async-invocations: filters (status, prefix, time),
    pagination covering all without duplicates, order, payloads, and no
    "invocations" key when nothing matches (CONTRACT.md §5.6)."""
    cfg = config({"l": {}, "other": {}})
    with Fcd(config=cfg) as f:
        created = []
        for i in range(7):
            tid, delay = ("ta-%d" % i, "0") if i < 4 else ("tb-%d" % i, "60")
            st, h, _ = async_invoke(f, "l", b"p%d" % i, "svc",
                                    [("X-Fc-Stateful-Async-Invocation-Id", tid),
                                     ("x-fc-async-delay", delay)])
            assert st == 202, st
            created.append(tid)
            time.sleep(0.005)  # distinct created times
        st, h, _ = async_invoke(f, "other", b"o", "svc",
                                [("X-Fc-Stateful-Async-Invocation-Id", "ta-other")])
        assert st == 202
        for tid in created[:4] + ["ta-other"]:
            fn = "other" if tid == "ta-other" else "l"
            assert wait_task(f, fn, tid, FINAL, 3, "svc")["status"] == "Succeeded", tid

        def ids(query):
            st, h, doc = task_request(f, "GET", "l", query=query, service="svc")
            assert st == 200, (st, doc)
            return [t["invocationId"] for t in doc.get("invocations", [])], doc
        got, doc = ids("")
        assert sorted(got) == sorted(created), doc  # the other function's task is not here
        assert doc.get("nextToken") in (None, ""), doc
        assert all("invocationPayload" not in t for t in doc["invocations"]), doc
        times = [t["startedTime"] for t in doc["invocations"]]
        assert times == sorted(times) and got == created, doc  # ascending by default
        got, doc = ids("sortOrderByTime=desc")
        assert got == created[::-1], got
        got, doc = ids("sortOrderByTime=asc")
        assert got == created, got
        got, doc = ids("status=Succeeded")
        assert sorted(got) == created[:4], got
        assert all(t["status"] == "Succeeded" for t in doc["invocations"]), doc
        got, _ = ids("status=Enqueued")
        assert sorted(got) == created[4:], got
        got, _ = ids("invocationIdPrefix=tb-")
        assert sorted(got) == created[4:], got
        got, _ = ids("invocationIdPrefix=ta-&status=Succeeded&sortOrderByTime=desc")
        assert got == created[:4][::-1], got
        got, doc = ids("includePayload=true&invocationIdPrefix=ta-1")
        assert got == ["ta-1"] and doc["invocations"][0]["invocationPayload"] == "p1", doc
        # Time range on startedTime (ms, inclusive bounds are not assumed).
        st, _, doc = task_request(f, "GET", "l", service="svc")
        t = {x["invocationId"]: x["startedTime"] for x in doc["invocations"]}
        got, _ = ids("startedTimeBegin=%d&startedTimeEnd=%d" % (t["ta-2"], t["tb-5"]))
        assert set(created[2:5]) <= set(got) <= set(created[1:7]), got  # end: exclusive here
        got, _ = ids("startedTimeBegin=%d" % (t["tb-6"] + 1))
        assert got == [], got
        # Pagination: every task once, in order, pages of at most 2.
        tasks, pages = list_all(f, "l", limit=2, service="svc")
        got = [x["invocationId"] for x in tasks]
        assert got == created and pages >= 4, (got, pages)
        tasks, pages = list_all(f, "l", "sortOrderByTime=desc", limit=3, service="svc")
        assert [x["invocationId"] for x in tasks] == created[::-1], tasks
        tasks, _ = list_all(f, "l", "status=Enqueued", limit=1, service="svc")
        assert [x["invocationId"] for x in tasks] == created[4:], tasks
        # Nothing matches: no "invocations" key at all.
        for q in ("status=Failed", "invocationIdPrefix=zzz"):
            st, h, doc = task_request(f, "GET", "l", query=q, service="svc")
            assert st == 200 and "invocations" not in doc, (q, doc)
        st, h, doc = task_request(f, "GET", "l", service="nosvc")
        assert st in (200, 404), (st, doc)
        if st == 200:
            assert "invocations" not in doc, doc
        # Bad arguments: 400 InvalidArgument.
        for q in ("limit=0", "limit=abc", "limit=-1", "limit=1001", "status=Bogus",
                  "nextToken=not-a-token"):
            st, h, doc = task_request(f, "GET", "l", query=q, service="svc")
            check_task_error(st, h, doc, 400, "InvalidArgument")
        assert f.stop() == 0


# ---- 8. durability across SIGKILL ------------------------------------------------------

def kill_hard(f):
    """SIGKILL fcd; its instances (fcshim's PDEATHSIG) die with it. Returns the
    instance pids that survived (killed here by pid)."""
    iids = {line[1] for fn in ("s", "d") for line in starts(f, fn)}
    f.stop(sig=signal.SIGKILL)
    survivors = []
    for iid in iids:
        def gone():
            return not pids_with_env("FC_INSTANCE_ID", iid)
        if not wait_for(gone, 2 * SLOW):
            pids = pids_with_env("FC_INSTANCE_ID", iid)
            survivors += pids
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    return iids, survivors


def test_async_durable_across_sigkill():
    """Every acknowledged job runs after a SIGKILL and a restart on the same
    data directory: none lost, interrupted runs re-run (at-least-once)."""
    acked = {}
    with Fcd(args=fn_flag("s", instances=1) + fn_flag("d")) as f:
        data = os.path.join(f.dir, "data")
        with f.connect(10 * SLOW) as s:
            for i in range(100):
                fn, event, delay = ("d", b"d%d" % i, "3") if i % 2 else ("s", b"sleep:2000", "0")
                body = event
                s.sendall(("POST /2016-08-15/services/default/functions/%s/invocations HTTP/1.1"
                           "\r\nHost: x\r\nX-Fc-Invocation-Type: Async\r\nx-fc-async-delay: %s\r\n"
                           "Content-Length: %d\r\n\r\n" % (fn, delay, len(body))).encode() + body)
                st, h, _ = read_response(s)
                assert st == 202, st
                acked[h["x-fc-request-id"]] = fn
        assert wait_for(lambda: starts(f, "s"), 3 * SLOW)  # one sleep is running
        iids, survivors = kill_hard(f)
        assert iids, "no instance ran"
        assert survivors == [], "instances outlived fcd: %s" % survivors
    # Restart on the same data dir, with room to run the backlog quickly.
    with Fcd(args=["--data-dir", data] + fn_flag("s", instances=50) + fn_flag("d")) as g:
        log = g.read_log().decode(errors="replace")
        m = re.search(r"async store: (\d+) jobs back in the queue", log)
        assert m and int(m.group(1)) >= 1, log

        def unfinished():
            left = []
            for tid, fn in acked.items():
                st, doc = task_get(g, fn, tid)
                assert st == 200, ("lost", tid, st, doc)
                if doc["status"] != "Succeeded":
                    assert doc["status"] in ("Enqueued", "Running"), doc
                    left.append(tid)
            return left
        t_restart = time.monotonic()
        left = wait_for(lambda: not unfinished(), 15 * SLOW, 0.25) or unfinished()
        print("# backlog done %.1f s after the restart" % (time.monotonic() - t_restart))
        if left is not True and left:
            docs = [task_get(g, acked[t], t)[1] for t in left[:2]]
            raise AssertionError("not finished: %d, e.g. %s" % (len(left), json.dumps(docs)))
        tasks, _ = list_all(g, "s", limit=1000)
        tasks2, _ = list_all(g, "d", limit=1000)
        assert {t["invocationId"] for t in tasks + tasks2} == set(acked), "lost or extra jobs"
        runs = {}
        for fn in ("s", "d"):
            for line in invoke_log_lines(read_text(os.path.join(data, "logs", "default",
                                                                fn + ".log"))):
                runs[line[2]] = runs.get(line[2], 0) + 1
        never = [tid for tid in acked if runs.get(tid, 0) == 0]
        assert never == [], never
        dups = sum(1 for tid in acked if runs[tid] > 1)
        print("# %d jobs, %d ran more than once (at-least-once)" % (len(acked), dups))
        assert dups >= 1  # the sleep that was running when fcd died ran again
        assert g.stop() == 0


def test_async_acks_survive_sigkill_mid_stream():
    """SIGKILL while 8 clients submit as fast as they can: every job that got
    its 202 is in the store after the restart (no 202 before the commit)."""
    with Fcd(args=fn_flag("c"), io_threads=2) as f:
        data = os.path.join(f.dir, "data")
        acked, stop = [], threading.Event()

        def client():
            try:
                with f.connect(10 * SLOW) as s:
                    while not stop.is_set():
                        s.sendall(b"POST /2016-08-15/services/default/functions/c/invocations "
                                  b"HTTP/1.1\r\nHost: x\r\nX-Fc-Invocation-Type: Async\r\n"
                                  b"x-fc-async-delay: 3600\r\nContent-Length: 1\r\n\r\nx")
                        st, h, _ = read_response(s)
                        if st == 202:
                            acked.append(h["x-fc-request-id"])
            except (OSError, ConnectionError):
                pass  # fcd died
        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 300, 5 * SLOW)
        f.stop(sig=signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(10)
    assert len(acked) >= 50, len(acked)
    with Fcd(args=["--data-dir", data] + fn_flag("c")) as g:
        tasks, _ = list_all(g, "c", limit=1000)
        have = {t["invocationId"] for t in tasks}
        lost = [tid for tid in acked if tid not in have]
        assert not lost, "%d of %d acknowledged jobs lost" % (len(lost), len(acked))
        print("# %d acknowledged before SIGKILL, %d stored" % (len(acked), len(have)))
        assert g.stop() == 0


def test_async_durable_no_retries_left():
    """A job with max_retries 0 that was still waiting for an instance (never
    reached it) when fcd died must still run after the restart: the 202 is a
    promise that it runs at least once."""
    cfg = config({"s": {"max_instances": 1, "async": {"max_retries": 0}}})
    with Fcd(config=cfg) as f:
        data = os.path.join(f.dir, "data")
        ids = []
        for i in range(4):
            st, h, _ = async_invoke(f, "s", b"sleep:3000", "svc")
            assert st == 202
            ids.append(h["x-fc-request-id"])
        assert wait_for(lambda: starts(f, "s", None, "svc"), 3 * SLOW)
        time.sleep(0.3)
        f.stop(sig=signal.SIGKILL)
    cfg2 = config({"s": {"max_instances": 4, "async": {"max_retries": 0}}})
    with Fcd(config=cfg2, args=["--data-dir", data]) as g:
        docs = {tid: wait_task(g, "s", tid, FINAL, 8, "svc") for tid in ids}
        log = read_text(os.path.join(data, "logs", "svc", "s.log"))
        never_ran = [tid for tid in ids if not invoke_log_lines(log, "Start", tid)]
        bad = {tid: (docs[tid]["status"], docs[tid]["invocationErrorMessage"])
               for tid in never_ran if docs[tid]["status"] != "Succeeded"}
        assert not bad, "acknowledged, never ran, not retried: %s" % bad
        assert g.stop() == 0


def test_async_durability_setting():
    """"async_durability": "nometasync" is accepted (and said in the log);
    an unknown value stops fcd from starting."""
    with Fcd(args=fn_flag("c"), config='{"async_durability": "nometasync"}') as f:
        st, h, _ = async_invoke(f, "c", b"x")
        assert st == 202
        assert wait_task(f, "c", h["x-fc-request-id"], FINAL, 3)["status"] == "Succeeded"
        assert b"NOMETASYNC" in f.read_log()
        assert f.stop() == 0
    try:
        Fcd(config='{"async_durability": "fast"}')
    except RuntimeError as e:
        assert "async_durability" in str(e), e
    else:
        raise AssertionError("fcd started with async_durability fast")


def test_async_sigterm_requeues_running():
    """SIGTERM with an async job running: fcd stops within its grace, the
    interrupted job goes back to the queue without using an attempt
    (max_retries 0) and runs after the restart."""
    cfg = config({"c": {"async": {"max_retries": 0}, "timeout_s": 10}})
    with Fcd(config=cfg) as f:
        data = os.path.join(f.dir, "data")
        assert invoke(f, "c", b"warm", "svc")[0] == 200
        st, h, _ = async_invoke(f, "c", b"sleep:3000", "svc")
        tid = h["x-fc-request-id"]
        assert wait_for(lambda: starts(f, "c", tid, "svc"), 2 * SLOW)
        t0 = time.monotonic()
        assert f.stop() == 0
        assert time.monotonic() - t0 < 3.0 * SLOW
    with Fcd(config=cfg, args=["--data-dir", data]) as g:
        doc = wait_task(g, "c", tid, FINAL, 6, "svc")
        assert doc is not None and doc["status"] == "Succeeded", doc
        assert g.stop() == 0


def test_async_sigterm_during_cold_start():
    """SIGTERM right after a 202 whose job is starting the function's first
    instance: fcd still stops promptly (the starting instance is killed)."""
    for _ in range(2):
        with Fcd(args=fn_flag("c")) as f:
            st, h, _ = async_invoke(f, "c", b"x")
            assert st == 202
            t0 = time.monotonic()
            assert f.stop(timeout=5 * SLOW) == 0
            assert time.monotonic() - t0 < 3.0 * SLOW


# ---- 9. group commit under load --------------------------------------------------------

def test_async_group_commit_load():
    """200 concurrent async submits over keep-alive connections from threads
    (4 io threads): all 202, each task readable right after its 202 (the
    commit came first), all 200 listed afterwards."""
    with Fcd(args=fn_flag("c"), io_threads=4) as f:
        n = 200
        barrier = threading.Barrier(n)
        results, errors = {}, []

        def client(i):
            try:
                with f.connect(30 * SLOW) as s:
                    barrier.wait(30)
                    body = b"job%d" % i
                    s.sendall(b"POST /2016-08-15/services/default/functions/c/invocations "
                              b"HTTP/1.1\r\nHost: x\r\nX-Fc-Invocation-Type: Async\r\n"
                              b"x-fc-async-delay: 3600\r\nContent-Length: %d\r\n\r\n%s"
                              % (len(body), body))
                    st, h, _ = read_response(s)
                    tid = h.get("x-fc-request-id")
                    # Same connection (keep-alive): the task is there already.
                    s.sendall(b"GET /2016-08-15/services/default/functions/c/"
                              b"stateful-async-invocations/%s HTTP/1.1\r\nHost: x\r\n\r\n"
                              % tid.encode())
                    st2, _, doc = read_response(s)
                    results[i] = (st, tid, st2, json.loads(doc) if st2 == 200 else doc)
            except Exception as e:  # reported below
                errors.append((i, repr(e)))
        threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        took = time.monotonic() - t0
        assert not errors, errors[:5]
        assert len(results) == n
        bad = {i: r[:3] for i, r in results.items() if r[0] != 202 or r[2] != 200}
        assert not bad, list(bad.items())[:5]
        for i, (_, tid, _, doc) in results.items():
            assert doc["invocationId"] == tid and doc["status"] == "Enqueued", doc
            assert doc["invocationPayload"] == "job%d" % i, doc
        assert len({r[1] for r in results.values()}) == n
        tasks, _ = list_all(f, "c", limit=1000)
        assert {t["invocationId"] for t in tasks} == {r[1] for r in results.values()}
        print("# %d async submits in %.2f s" % (n, took))
        assert f.stop() == 0


# ---- 10. async payload limit ------------------------------------------------------------

def test_async_payload_limit():
    """128 KB async body is accepted, one byte more is 400 EntityTooLarge and
    stores nothing; http.body_async_bytes_max moves the limit; sync calls
    keep the sync limit."""
    with Fcd(args=fn_flag("c")) as f:
        st, h, body = async_invoke(f, "c", b"x" * (128 * 1024), headers=[("x-fc-async-delay",
                                                                           "3600")])
        assert st == 202, (st, body)
        big = h["x-fc-request-id"]
        st, h, body = async_invoke(f, "c", b"x" * (128 * 1024 + 1))
        check_error(st, h, body, 400, "EntityTooLarge")
        st, h, body = invoke(f, "c", b"y" * (200 * 1024))
        assert st == 200 and body == b"hello, " + b"y" * (200 * 1024), st
        st, _, doc = task_request(f, "GET", "c", query="includePayload=true")
        assert [t["invocationId"] for t in doc["invocations"]] == [big], doc
        assert doc["invocations"][0]["invocationPayload"] == "x" * (128 * 1024)
        assert f.stop() == 0
    with Fcd(args=fn_flag("c"), config='{"http": {"body_async_bytes_max": 1000}}') as f:
        st, h, body = async_invoke(f, "c", b"a" * 1000)
        assert st == 202, (st, body)
        ok = h["x-fc-request-id"]
        st, h, body = async_invoke(f, "c", b"a" * 1001)
        check_error(st, h, body, 400, "EntityTooLarge")
        # chunked, over the limit once decoded
        with f.connect(10 * SLOW) as s:
            s.sendall(b"POST /2016-08-15/services/default/functions/c/invocations HTTP/1.1\r\n"
                      b"Host: x\r\nX-Fc-Invocation-Type: Async\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n3e9\r\n" + b"b" * 1001 + b"\r\n0\r\n\r\n")
            st, h, body = read_response(s)
        check_error(st, h, body, 400, "EntityTooLarge")
        st, h, body = invoke(f, "c", b"s" * 5000)  # sync: its own limit
        assert st == 200, st
        assert wait_task(f, "c", ok, FINAL, 3)["status"] == "Succeeded"
        st, _, doc = task_request(f, "GET", "c")
        assert [t["invocationId"] for t in doc["invocations"]] == [ok], doc
        assert f.stop() == 0


# ---- 11. max event age ------------------------------------------------------------------

def test_async_max_event_age():
    """max_event_age_s 1 with a failing function and retries left: the job
    ends Expired (not Failed) once older than 1 s, and runs no more."""
    cfg = config({"e": {"async": {"max_event_age_s": 1, "max_retries": 8}}})
    with Fcd(config=cfg) as f:
        t0 = time.time()
        st, h, _ = async_invoke(f, "e", b"fail", "svc")
        assert st == 202
        tid = h["x-fc-request-id"]
        doc = wait_task(f, "e", tid, FINAL, 4, "svc")
        assert doc is not None and doc["status"] == "Expired", doc
        assert doc["endTime"] - doc["startedTime"] >= 1000, doc
        assert time.time() - t0 < 1.0 + 1.5 * SLOW, time.time() - t0
        runs = starts(f, "e", tid, "svc")
        assert 1 <= len(runs) <= 2, runs
        time.sleep(1.2)
        assert len(starts(f, "e", tid, "svc")) == len(runs)
        assert task_get(f, "e", tid, "svc")[1]["status"] == "Expired"
        assert f.stop() == 0


# ---- found on the way ------------------------------------------------------------------

def test_http_trigger_methods():
    """An HTTP trigger's "methods" allow exactly those methods (CONTRACT.md
    §3.2), sync and async alike."""
    cfg = config({"h": {"http_trigger": {"auth_type": "anonymous", "methods": ["POST", "PUT"]}}})
    with Fcd(config=cfg) as f:
        got = {}
        for m in ("GET", "HEAD", "POST", "PUT", "DELETE"):
            with f.connect(10 * SLOW) as s:
                s.sendall(("%s /2016-08-15/proxy/svc/h/x HTTP/1.1\r\nHost: x\r\n"
                           "Content-Length: 0\r\n\r\n" % m).encode())
                got[m] = read_response(s, head_only=m == "HEAD")[0]
        st, h, _ = request(f, b"PUT /2016-08-15/proxy/svc/h/x HTTP/1.1\r\nHost: x\r\n"
                              b"X-Fc-Invocation-Type: Async\r\nContent-Length: 0\r\n\r\n",
                           10 * SLOW)
        got["PUT async"] = st
        assert got == {"GET": 403, "HEAD": 403, "POST": 200, "PUT": 200, "DELETE": 403,
                       "PUT async": 202}, got
        assert f.stop() == 0


def _hook_server(fail_paths=()):
    """A local HTTP endpoint that records POSTs; answers 500 on fail_paths."""
    import http.server
    got = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("content-length", 0))
            got.append((self.path, json.loads(self.rfile.read(n))))
            code = 500 if self.path in fail_paths else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, got


def test_async_destinations_function_and_http():
    """on_success to another function gets FC's callback payload; on_failure
    to a local HTTP endpoint is POSTed once; an endpoint that always answers
    500 is tried 3 times and the task's destinationStatus records the
    failure."""
    srv, got = _hook_server(fail_paths=("/down",))
    port = srv.server_address[1]
    cfg = config({
        "a": {"async": {"max_retries": 0, "on_success": "svc/sink",
                        "on_failure": "http://127.0.0.1:%d/hook" % port}},
        "b": {"async": {"max_retries": 0, "on_failure": "http://127.0.0.1:%d/down" % port}},
        "sink": {},
    })
    try:
        with Fcd(config=cfg) as f:
            ok = async_invoke(f, "a", b"fine", "svc",
                              headers=[("x-fc-stateful-async-invocation-id", "ok_a")])
            bad = async_invoke(f, "a", b"fail", "svc",
                               headers=[("x-fc-stateful-async-invocation-id", "bad_a")])
            down = async_invoke(f, "b", b"fail", "svc",
                                headers=[("x-fc-stateful-async-invocation-id", "bad_b")])
            assert ok[0] == bad[0] == down[0] == 202
            doc = wait_task(f, "a", "ok_a", FINAL, 10, "svc")
            assert doc["status"] == "Succeeded", doc
            # The sink ran once with the envelope naming the source.
            deadline = time.monotonic() + 10 * SLOW
            sink = []
            while time.monotonic() < deadline and not sink:
                r = request(f, b"GET /2016-08-15/services/svc/functions/sink/"
                               b"stateful-async-invocations HTTP/1.1\r\nHost: x\r\n\r\n")
                sink = json.loads(r[2]).get("invocations", [])
                sink = [t for t in sink if t["status"] == "Succeeded"]
                time.sleep(0.1)
            assert len(sink) == 1, sink
            env = json.loads(sink[0]["returnPayload"][len("hello, "):])
            assert env["requestContext"]["requestId"] == "ok_a", env
            assert env["requestPayload"] == "fine" and env["responsePayload"] == "hello, fine"
            # The HTTP endpoint got the failure envelope; the record says so.
            deadline = time.monotonic() + 10 * SLOW
            while time.monotonic() < deadline:
                doc = wait_task(f, "a", "bad_a", FINAL, 10, "svc")
                if doc["destinationStatus"] == "Succeeded":
                    break
                time.sleep(0.1)
            assert doc["status"] == "Failed" and doc["destinationStatus"] == "Succeeded", doc
            hooks = [b for p, b in got if p == "/hook"]
            assert len(hooks) == 1 and hooks[0]["requestContext"]["requestId"] == "bad_a"
            assert hooks[0]["responseContext"]["functionError"] == "UnhandledInvocationError"
            # An endpoint that keeps failing: 3 tries, then the status says it.
            deadline = time.monotonic() + 15 * SLOW
            while time.monotonic() < deadline:
                doc = wait_task(f, "b", "bad_b", FINAL, 10, "svc")
                if doc["destinationStatus"].startswith("Failed"):
                    break
                time.sleep(0.2)
            assert doc["destinationStatus"].startswith("Failed"), doc
            assert len([p for p, _ in got if p == "/down"]) == 3, got
            assert f.stop() == 0
    finally:
        srv.shutdown()
