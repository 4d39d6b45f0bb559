"""Benchmark smoke test (issue 7): every scenario script of bench/ in its tiny
mode (SMOKE=1: one 1 s run per system, small counts, no quiet wait), each
into a private results directory, all side by side (misc.sh as two halves) so
the whole test stays well under 30 s even on a loaded 2-core machine. Asserts only that each
produced JSON rows with numbers and no errors, not what the numbers are.

Needs wrk, nginx, curl and taskset (make deps) and the C example (make);
bench_jobs (the store's commit floor) is optional and checked when built."""
import json
import os
import shutil
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FCD = os.path.abspath(os.environ.get("FCD", "build/cc/fcd"))
# (name, script, extra environment): misc.sh's scenarios in two halves, so no
# one script sets the pace.
SCRIPTS = (("http", "http", {}), ("sync", "sync", {}), ("openloop", "openloop", {}),
           ("async", "async", {}),
           ("misc-a", "misc", {"MISC_SCENARIOS": "idle timeout"}),
           ("misc-b", "misc", {"MISC_SCENARIOS": "idle-conns functions"}))
SCRIPT_TIMEOUT_S = 100  # each script; the runner's per-test bound is 120 s


def load_rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def test_bench_scripts_smoke():
    for tool in ("wrk", "nginx", "curl", "taskset"):
        assert shutil.which(tool), "%s not installed (make deps)" % tool
    assert os.access(FCD, os.X_OK), FCD
    tmp = tempfile.mkdtemp(prefix="fcd-bench-smoke-")
    env = dict(os.environ, SMOKE="1", QUICK="0", FCD=FCD)
    procs = {}
    t0 = time.monotonic()
    for s, script, extra in SCRIPTS:
        d = os.path.join(tmp, s)
        os.makedirs(d)
        log = open(os.path.join(d, "log.txt"), "wb")
        procs[s] = (subprocess.Popen([os.path.join(ROOT, "bench", script + ".sh")], cwd=ROOT,
                                     env=dict(env, RESULTS_DIR=d, **extra), stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True), log, d)
    failures, took = [], {}
    while len(took) < len(procs) and time.monotonic() - t0 < SCRIPT_TIMEOUT_S:
        for s, (p, _, _) in procs.items():
            if s not in took and p.poll() is not None:
                took[s] = time.monotonic() - t0
        time.sleep(0.1)
    for s, (p, log, d) in procs.items():
        try:
            rc = p.wait(0.1)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 15)  # its session: the script; its EXIT trap stops its servers
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait()
            rc = "timeout"
        log.close()
        if rc != 0:
            with open(os.path.join(d, "log.txt"), errors="replace") as f:
                failures.append("%s.sh: exit %s\n%s" % (s, rc, f.read()[-3000:]))
    print("# bench smoke: %.1f s (%s)" % (time.monotonic() - t0, ", ".join(
        "%s %.1f s" % kv for kv in sorted(took.items(), key=lambda kv: kv[1]))))
    assert not failures, "\n".join(failures)

    def rows(s, name):
        path = os.path.join(procs[s][2], name)
        assert os.path.exists(path), "%s.sh wrote no %s" % (s, name)
        return load_rows(path)

    def check_wrk(rs, scenario, systems):
        got = {r["system"] for r in rs if r["scenario"] == scenario and "connections" in r}
        assert set(systems) <= got, (scenario, got)
        for r in rs:
            if r["scenario"] != scenario or "connections" not in r:
                continue  # rows of a scenario's other parts (e.g. the idle-conns holder)
            assert number(r["rps"]) and r["rps"] > 0, r
            assert number(r["requests"]) and r["requests"] > 0, r
            assert number(r["p50_us"]) and number(r["p99_us"]), r
            assert r["errors"] == 0, r

    check_wrk(rows("http", "http.jsonl"), "static-200", ("fcd", "nginx"))

    sync = rows("sync", "sync.jsonl")
    check_wrk(sync, "sync-http", ("fcd", "nginx-proxy", "direct"))
    check_wrk(sync, "sync-invoke", ("fcd", "nginx-proxy", "direct"))
    cold = [r for r in sync if r["scenario"] == "cold-start"]
    assert cold and all(number(r["first_byte_ms"]) and r["first_byte_ms"] > 0 for r in cold), cold

    ol = rows("openloop", "openloop.jsonl")
    check_wrk(ol, "openloop-wrk", ("fcd",))
    runs = [r for r in ol if r["scenario"] == "openloop"]
    assert len(runs) == 2 and all(number(r["rate_achieved"]) and r["rate_achieved"] > 0 and
                                  number(r["p50_us"]) for r in runs), runs

    asyn = rows("async", "async.jsonl")
    check_wrk(asyn, "async-ack", ("fcd", "fcd-nometasync"))
    delay = [r for r in asyn if r["scenario"] == "async-delay"]
    assert len(delay) == 1, delay
    d = delay[0]
    assert d["errors"] == 0 and d["early"] == 0 and d["ok"] == d["jobs"] > 0, d
    assert all(number(d["lateness_ms"][k]) for k in ("p50", "p99", "max")), d
    if os.access(os.path.join(os.path.dirname(FCD), "bench_jobs"), os.X_OK):
        floor = [r for r in asyn if r["scenario"] == "async-store-floor"]
        assert len(floor) == 6, floor
        assert all(number(r["jobs_per_s"]) and r["jobs_per_s"] > 0 for r in floor), floor

    misc = rows("misc-a", "misc.jsonl") + rows("misc-b", "misc.jsonl")
    idle = [r for r in misc if r["scenario"] == "idle"]
    assert {r["phase"] for r in idle} == {"fresh", "after-load"}, idle
    assert all(number(r["rss_kb"]) and r["rss_kb"] > 0 and number(r["cpu_ms"]) for r in idle), idle
    tmo = [r for r in misc if r["scenario"] == "timeout" and "sample" in r]
    assert tmo and all(number(r["overshoot_ms"]) and r["errors"] == 0 for r in tmo), tmo
    assert all(r["errors"] == 0 for r in misc if r["scenario"] == "timeout"), misc
    check_wrk(misc, "idle-conns", ("fcd", "fcd-10k"))
    holder = [r for r in misc if r["scenario"] == "idle-conns" and r["system"] == "holder"]
    assert len(holder) == 1 and holder[0]["errors"] == 0 and holder[0]["held"] > 0, holder
    check_wrk(misc, "functions", ("fn-1", "fn-3"))
    assert all(r["instances"] == r["functions"] for r in misc if r["scenario"] == "functions"), misc

    for s, _, _ in SCRIPTS:
        with open(os.path.join(procs[s][2], "summary.md")) as f:
            assert f.read().strip(), s
    shutil.rmtree(tmp, ignore_errors=True)
