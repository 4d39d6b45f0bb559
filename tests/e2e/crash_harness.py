#!/usr/bin/env python3
"""Crash-safety harness for durable async invocation (issue 5, "Crash safety").

    python3 tests/e2e/crash_harness.py --rounds K --seed S [--fcd PATH]

One data directory for the whole run, so jobs of earlier rounds must survive
every later crash too. Each round:

  1. start fcd in the foreground on 127.0.0.1 (port from the kernel) with a
     config whose function svc/c (the C example) has max_instances 2 and
     timeout_s 10 (round 1 starts it; later rounds use the one restarted at
     the end of the round before);
  2. 8 submitter threads send async jobs over keep-alive connections, each
     with a unique caller task id (X-Fc-Stateful-Async-Invocation-Id): mostly
     "x" (answers at once), some "sleep:50", some "x" with x-fc-async-delay 1;
     each id whose 202 arrived is acknowledged;
  3. at a seeded random moment 0.2-1.5 s after the submitters start, SIGKILL
     fcd by pid, then its instance processes, by pid only (its descendants
     snapshotted just before the kill, their process groups, and the
     processes whose FC_INSTANCE_ID is one the function log names);
  4. restart fcd on the same data directory and wait (bounded) until every
     job acknowledged so far, in any round, reaches Succeeded;
  5. count: lost (acknowledged, but missing from the store or not Succeeded
     within --settle seconds: a stall counts, and "lost-later-succeeded" says
     how many of those did succeed by a later round; must be 0), duplicates
     (task ids with more than one "FC Invoke Start RequestId: <id>" line in
     the function log: at-least-once allows them), unacknowledged-but-stored
     (sent, no answer because fcd died, yet committed: allowed), and anomalies
     that are bugs but not losses: a job refused with an error status yet
     stored, a stored id never sent, a Succeeded job with no Start line.

Prints a line per round and a final "rounds R, acknowledged A, lost L,
duplicates D, unacknowledged-but-stored U". Exit status 1 when anything was
lost (or fcd failed to start, stop cleanly, or a sanitizer report appeared),
else 0. Every wait is bounded; loopback only; the data directory is removed
on success and kept (and named) on failure. Standard library only.

Importable: run(rounds, seed, fcd) returns the totals as a dict (the e2e test
test_crash.py uses it)."""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fcd import Conn as _Sock  # noqa: E402
from fcd import invoke_log_lines, read_response, read_text, sanitizer_report  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
HELLO_C = os.path.join(ROOT, "examples", "hello-c")
SERVICE, FUNCTION = "svc", "c"
THREADS = 8
KILL_AFTER_S = (0.2, 1.5)
PER_THREAD_RATE = 250  # submits per second per thread at most: keeps each backlog short
SETTLE_S = 30.0        # bound on "every acknowledged job Succeeded" after a restart
STALL_S = 10.0         # a settle slower than this (times E2E_SLOW) is reported as a stall
LIST_LIMIT = 1000
# A job's kind, by weight: event and extra headers.
KINDS = ((85, b"x", ()), (8, b"sleep:50", ()), (7, b"x", (("x-fc-async-delay", "1"),)))


def slow_factor(fcd):
    """Upper bounds on waits are multiplied by this (as tests/e2e/fcd.py)."""
    return float(os.environ.get("E2E_SLOW", "4" if "thread" in fcd else
                                "2" if "address" in fcd else "1"))


# ---- processes (by pid only, from /proc) -----------------------------------------

def proc_stat(pid):
    """(ppid, pgid, start time in ticks, state) of a live pid, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[2]), int(fields[19]), fields[0]


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(root):
    """{pid: start time} of every live descendant of root."""
    stats = {p: s for p in all_pids() for s in [proc_stat(p)] if s is not None}
    children = {}
    for pid, (ppid, _, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, list(children.get(root, ()))
    while todo and len(out) < 100000:
        pid = todo.pop()
        if pid not in out:
            out[pid] = stats[pid][2]
            todo += children.get(pid, ())
    return out


def pids_with_env(entries):
    """{pid: start time} of live processes whose environment holds one of
    the entries (bytes "NAME=value")."""
    out = {}
    if not entries:
        return out
    for pid in all_pids():
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = set(f.read().split(b"\0"))
        except OSError:
            continue
        st = proc_stat(pid)
        if st is not None and st[3] != b"Z" and env & entries:
            out[pid] = st[2]
    return out


def same_group(pids):
    """{pid: start time} of live processes in the process groups led by pids."""
    groups = set(pids)
    return {p: s[2] for p in all_pids() for s in [proc_stat(p)]
            if s is not None and s[1] in groups and s[3] != b"Z"}


def alive(pid, start):
    st = proc_stat(pid)
    return st is not None and st[2] == start and st[3] != b"Z"


def kill_pids(procs):
    """SIGKILL each {pid: start time} still alive as that same process."""
    for pid, start in procs.items():
        if alive(pid, start):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# ---- fcd ---------------------------------------------------------------------------

class Daemon:
    """One fcd process in the foreground on the shared data directory."""

    def __init__(self, fcd, base, data, config_path, name, slow, extra=()):
        self.log_path = os.path.join(base, "fcd-%s.log" % name)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [fcd, "--foreground", "--listen", "127.0.0.1:0", "--data-dir", data,
             "--io-threads", "2", "--config", config_path] + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15 * slow
        self.port = None
        while time.monotonic() < deadline:
            m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", self.read_log())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        self.kill()
        raise RuntimeError("fcd did not start (%s): %s" % (
            self.log_path, self.read_log()[-2000:].decode(errors="replace")))

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    def connect(self, timeout):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Sock(fileno=s.detach())  # read_response keeps pipelined leftovers in it
        conn.settimeout(timeout)
        return conn

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self, timeout):
        """SIGTERM; the exit status (None when it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            status = None
        self.kill()
        return status


class Conn:
    """A keep-alive client connection that reconnects when needed (only for
    the harness's own status queries, never for submits)."""

    def __init__(self, daemon, timeout):
        self.daemon, self.timeout, self.sock = daemon, timeout, None

    def get(self, target):
        for attempt in range(2):
            try:
                if self.sock is None:
                    self.sock = self.daemon.connect(self.timeout)
                self.sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode())
                return read_response(self.sock)
            except (OSError, ConnectionError):
                self.close()
                if attempt:
                    raise

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def list_tasks(conn, prefix=""):
    """{task id: status} of every stored task of svc/c (optionally with an id
    prefix), through pagination."""
    base = "/2016-08-15/services/%s/functions/%s/stateful-async-invocations?limit=%d" % (
        SERVICE, FUNCTION, LIST_LIMIT)
    if prefix:
        base += "&invocationIdPrefix=" + prefix
    out, token = {}, None
    for _ in range(100000):  # pages; bounded
        st, _, body = conn.get(base + ("&nextToken=" + token if token else ""))
        if st != 200:
            raise RuntimeError("task list: %d %r" % (st, body[:300]))
        doc = json.loads(body)
        for t in doc.get("invocations", ()):
            out[t["invocationId"]] = t["status"]
        token = doc.get("nextToken")
        if not token:
            return out
    raise RuntimeError("task list pagination does not end")


def start_counts(log_text):
    """{task id: number of "FC Invoke Start" lines} of the function log."""
    runs = {}
    for _, _, tid, _ in invoke_log_lines(log_text, "Start"):
        runs[tid] = runs.get(tid, 0) + 1
    return runs


# ---- one round -------------------------------------------------------------------

def submit_all(daemon, rnd, seed, kill_after, slow):
    """8 submitter threads until fcd dies (killed after kill_after s, here).
    Returns (acked ids, sent-without-answer ids, {refused id: status}, killed
    fcd's descendants snapshot)."""
    acked, noanswer, refused, errors = set(), set(), {}, []
    lock, stop = threading.Lock(), threading.Event()
    path = "/2016-08-15/services/%s/functions/%s/invocations" % (SERVICE, FUNCTION)
    weights = [k[0] for k in KINDS]

    def submitter(t):
        try:
            submit_loop(t)
        except Exception as e:  # a harness bug: report it, never hang
            errors.append("submitter %d: %r" % (t, e))

    def submit_loop(t):
        rng = random.Random("%d/%d/%d" % (seed, rnd, t))
        n, gap = 0, 1.0 / PER_THREAD_RATE
        try:
            sock = daemon.connect(10 * slow)
        except OSError as e:
            errors.append("connect: %r" % e)
            return
        with sock:
            next_t = time.monotonic()
            while not stop.is_set() and n < 100000:
                _, event, extra = rng.choices(KINDS, weights)[0]
                tid = "j%d-%d-%d" % (rnd, t, n)
                n += 1
                head = ("POST %s HTTP/1.1\r\nHost: x\r\nX-Fc-Invocation-Type: Async\r\n"
                        "X-Fc-Stateful-Async-Invocation-Id: %s\r\nContent-Length: %d\r\n"
                        % (path, tid, len(event)))
                head += "".join("%s: %s\r\n" % kv for kv in extra)
                try:
                    sock.sendall(head.encode() + b"\r\n" + event)
                    st, h, body = read_response(sock)
                except (OSError, ConnectionError):
                    with lock:
                        noanswer.add(tid)
                    return  # fcd died (or the connection broke): this thread is done
                with lock:
                    if st == 202:
                        if h.get("x-fc-stateful-async-invocation-id") != tid:
                            errors.append("202 for %s names %r" % (tid, h))
                        acked.add(tid)
                    else:
                        refused[tid] = st
                if h.get("connection", "").lower() == "close":
                    return
                next_t += gap
                pause = next_t - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                else:
                    next_t = time.monotonic()

    threads = [threading.Thread(target=submitter, args=(t,), daemon=True)
               for t in range(THREADS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(max(0.0, t0 + kill_after - time.monotonic()))
    snapshot = descendants(daemon.proc.pid)
    os.kill(daemon.proc.pid, signal.SIGKILL)
    daemon.proc.wait()
    stop.set()
    for t in threads:
        t.join(15 * slow)
    if any(t.is_alive() for t in threads):
        errors.append("a submitter did not end")
    return acked, noanswer, refused, snapshot, errors


def kill_instances(snapshot, function_log, slow):
    """After fcd's SIGKILL: kill its instances by pid (the snapshot of its
    descendants, their process groups, and the FC_INSTANCE_IDs of the
    function log). Returns how many were still alive after a grace for
    PDEATHSIG to act (killed here)."""
    iids = {("FC_INSTANCE_ID=%s" % iid).encode() for _, iid, _, _ in
            invoke_log_lines(function_log, "Start")}
    def leftovers():
        procs = {p: s for p, s in snapshot.items() if alive(p, s)}
        procs.update(same_group(list(snapshot)))
        procs.update(pids_with_env(iids))
        return procs
    deadline = time.monotonic() + 1.0 * slow
    procs = leftovers()
    while procs and time.monotonic() < deadline:
        time.sleep(0.02)
        procs = leftovers()
    survivors = len(procs)
    for _ in range(50):  # bounded
        if not procs:
            break
        kill_pids(procs)
        time.sleep(0.02)
        procs = leftovers()
    if procs:
        raise RuntimeError("instance processes survive SIGKILL: %s" % sorted(procs))
    return survivors


def settle(daemon, acked_all, rnd, slow, bound_s):
    """Wait (bounded) until every acknowledged job is Succeeded. Returns
    ({id: status} of the whole store, seconds taken)."""
    conn = Conn(daemon, 10 * slow)
    t0 = time.monotonic()
    deadline = t0 + bound_s * slow
    try:
        # This round's jobs (by prefix) are the ones that may still run.
        mine = {tid for tid in acked_all if tid.startswith("j%d-" % rnd)}
        while True:
            have = list_tasks(conn, "j%d-" % rnd)
            if all(have.get(tid) == "Succeeded" for tid in mine) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # Then the whole store, every round's jobs.
        while True:
            have = list_tasks(conn)
            if all(have.get(tid) == "Succeeded" for tid in acked_all) or \
                    time.monotonic() > deadline:
                return have, time.monotonic() - t0
            time.sleep(0.2)
    finally:
        conn.close()


# ---- the run ---------------------------------------------------------------------

def run(rounds, seed, fcd, out=print, keep=False, settle_s=SETTLE_S, fcd_args=()):
    """The harness; returns the totals (see the module doc)."""
    fcd = os.path.abspath(fcd)
    slow = slow_factor(fcd)
    rng = random.Random(seed)
    base = tempfile.mkdtemp(prefix="fcd-crash-")
    data = os.path.join(base, "data")
    config_path = os.path.join(base, "fcd.json")
    with open(config_path, "w") as f:
        json.dump({"services": {SERVICE: {"functions": {FUNCTION: {
            "code_dir": HELLO_C, "max_instances": 2, "timeout_s": 10}}}}}, f)
    function_log = os.path.join(data, "logs", SERVICE, FUNCTION + ".log")
    totals = {"rounds": 0, "acknowledged": 0, "lost": 0, "lost_later_succeeded": 0,
              "duplicates": 0,
              "unacknowledged_but_stored": 0, "refused_but_stored": 0, "unknown_stored": 0,
              "succeeded_without_start": 0, "instance_survivors": 0, "stalled_rounds": 0,
              "errors": [],
              "data_dir": base}
    acked_all, sent_all, noanswer_all, refused_all, lost_ids = set(), set(), set(), {}, set()
    daemons = []
    out("# crash harness: %d rounds, seed %d, fcd %s, data %s" % (rounds, seed, fcd, data))
    daemon = None
    try:
        daemon = Daemon(fcd, base, data, config_path, "0", slow, fcd_args)
        daemons.append(daemon)
        prev_dups = 0
        for rnd in range(1, rounds + 1):
            kill_after = rng.uniform(*KILL_AFTER_S)
            acked, noanswer, refused, snapshot, errors = submit_all(
                daemon, rnd, seed, kill_after, slow)
            totals["errors"] += ["round %d: %s" % (rnd, e) for e in errors]
            survivors = kill_instances(snapshot, read_text(function_log), slow)
            totals["instance_survivors"] += survivors
            acked_all |= acked
            noanswer_all |= noanswer
            refused_all.update(refused)
            sent_all |= acked | noanswer | set(refused)
            # Restart on the same data dir: it carries into the next round.
            t_restart = time.monotonic()
            daemon = Daemon(fcd, base, data, config_path, str(rnd), slow, fcd_args)
            daemons.append(daemon)
            t_up = time.monotonic() - t_restart
            m = re.search(rb"async store: (\d+) jobs back in the queue", daemon.read_log())
            requeued = int(m.group(1)) if m else 0
            have, took = settle(daemon, acked_all, rnd, slow, settle_s)
            runs = start_counts(read_text(function_log))
            missing = sorted(t for t in acked_all if t not in have)
            unfinished = {t: have[t] for t in acked_all if t in have and have[t] != "Succeeded"}
            lost_ids.update(missing)
            lost_ids.update(unfinished)
            late = len([t for t in lost_ids if have.get(t) == "Succeeded"])
            dups = sum(1 for n in runs.values() if n > 1)
            u = len([t for t in noanswer_all if t in have])
            refused_stored = sorted(t for t in refused_all if t in have)
            unknown = sorted(t for t in have if t not in sent_all)
            no_start = sorted(t for t in acked_all if have.get(t) == "Succeeded"
                              and runs.get(t, 0) == 0)
            totals.update(rounds=rnd, acknowledged=len(acked_all), lost=len(lost_ids),
                          lost_later_succeeded=late, duplicates=dups,
                          unacknowledged_but_stored=u, refused_but_stored=len(refused_stored),
                          unknown_stored=len(unknown), succeeded_without_start=len(no_start))
            refused_codes = {}
            for st in refused.values():
                refused_codes[st] = refused_codes.get(st, 0) + 1
            out("round %d: kill at %.2f s, %d acknowledged (%d in all), %d without answer "
                "(%d stored), refused %s, %d requeued, restart %.2f s, settled %.1f s, "
                "lost %d (missing %d, not Succeeded in time %d), duplicates +%d (%d), "
                "instances outliving fcd %d"
                % (rnd, kill_after, len(acked), len(acked_all), len(noanswer),
                   len([t for t in noanswer if t in have]), refused_codes or "none", requeued,
                   t_up, took, len(missing) + len(unfinished), len(missing), len(unfinished),
                   dups - prev_dups, dups, survivors))
            prev_dups = dups
            if took > STALL_S * slow:
                totals["stalled_rounds"] += 1
                out("#   stall: the backlog took %.1f s (normally a few s)" % took)
            if missing:
                out("#   missing from the store: %d, e.g. %s" % (len(missing), missing[:5]))
            if unfinished:
                out("#   not Succeeded: %d, e.g. %s" % (len(unfinished),
                                                      list(unfinished.items())[:5]))
            if refused_stored:
                out("#   refused with an error status yet stored: %s" % refused_stored[:5])
            if unknown:
                out("#   stored but never sent: %s" % unknown[:5])
            if no_start:
                out("#   Succeeded without a Start line: %d, e.g. %s" % (len(no_start),
                                                                         no_start[:5]))
            for d in daemons[:-1]:
                report = sanitizer_report(d.read_log())
                if report:
                    totals["errors"].append("sanitizer report in %s:\n%s" % (d.log_path, report))
            del daemons[:-1]
            if totals["errors"]:
                break
        status = daemon.stop(15 * slow)
        if status != 0:
            totals["errors"].append("fcd exited %r on SIGTERM" % status)
        report = sanitizer_report(daemon.read_log())
        if report:
            totals["errors"].append("sanitizer report in %s:\n%s" % (daemon.log_path, report))
    except Exception as e:  # report it as a failure of the run, keep the data
        totals["errors"].append("%s: %s" % (type(e).__name__, e))
    finally:
        for d in daemons:
            if d.proc.poll() is None:
                d.kill()
    out("rounds %d, acknowledged %d, lost %d, duplicates %d, unacknowledged-but-stored %d"
        % (totals["rounds"], totals["acknowledged"], totals["lost"], totals["duplicates"],
           totals["unacknowledged_but_stored"]))
    extras = [k for k in ("lost_later_succeeded", "refused_but_stored", "unknown_stored",
                          "succeeded_without_start", "instance_survivors", "stalled_rounds")
              if totals[k]]
    if extras:
        out("# also: " + ", ".join("%s %d" % (k.replace("_", "-"), totals[k]) for k in extras))
    for e in totals["errors"]:
        out("# error: " + e)
    if totals["lost"] or totals["errors"] or keep:
        out("# data kept in %s" % base)
    else:
        shutil.rmtree(base, ignore_errors=True)
    return totals


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fcd", default=os.environ.get("FCD", os.path.join(ROOT, "build/cc/fcd")))
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    ap.add_argument("--fcd-arg", action="append", default=[], metavar="ARG",
                    help="one more fcd argument, e.g. --fcd-arg=--log-level=debug (repeatable)")
    ap.add_argument("--settle", type=float, default=SETTLE_S,
                    help="seconds (times E2E_SLOW) for every acknowledged job to succeed after "
                         "a restart; a job still not Succeeded then counts as lost (%(default)s)")
    a = ap.parse_args(argv)
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    totals = run(a.rounds, a.seed, a.fcd, out=lambda s: print(s, flush=True), keep=a.keep,
                 settle_s=a.settle, fcd_args=a.fcd_arg)
    return 1 if totals["lost"] or totals["errors"] or totals["rounds"] < a.rounds else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
