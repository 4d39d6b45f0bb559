"""The fcd daemon: configuration checks, flags, pid file, daemonizing,
signals (SIGHUP reload, SIGTERM/SIGINT exit status) and IPv6 listening."""
import json
import os
import re
import socket
import signal
import subprocess
import tempfile

from fcd import (FCD, SLOW, Fcd, check_log_clean, read_response, request, sanitizer_report,
                 wait_for)

GET_HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def run_fcd(args, timeout=10):
    """Run fcd to completion (a checking or failing invocation); fails the
    test when a sanitizer build reports on its way out."""
    r = subprocess.run([FCD] + list(args), capture_output=True, timeout=timeout * SLOW)
    report = sanitizer_report(r.stderr)
    assert report is None, "sanitizer report from fcd %s:\n%s" % (" ".join(args), report)
    return r


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def test_check_config_good():
    d = tempfile.mkdtemp(prefix="fcd-e2e-")
    cfg = write(os.path.join(d, "good.json"), json.dumps({
        "listen": "127.0.0.1:8123", "data_dir": d, "io_threads": 2, "workers": 2,
        "log_level": "debug", "access_log": False, "drain_grace_ms": 500,
        "http": {"head_bytes_max": 2048, "headers_max": 10, "body_sync_bytes_max": 1000,
                 "body_async_bytes_max": 1000, "idle_timeout_ms": 1000,
                 "header_timeout_ms": 1000, "connections_max": 10, "uring_basic": True}}))
    r = run_fcd(["--check-config", "--config", cfg])
    assert r.returncode == 0, r
    assert b"configuration ok" in r.stdout, r
    # Flags alone, no file at all.
    r = run_fcd(["--check-config", "--listen", "[::1]:0", "--data-dir", d, "--io-threads", "1"])
    assert r.returncode == 0, r


def test_check_config_unknown_key():
    d = tempfile.mkdtemp(prefix="fcd-e2e-")
    for text, key in (('{"listne": "127.0.0.1:0"}', "listne"),
                      ('{"http": {"bogus_limit": 1}}', "http.bogus_limit"),
                      ('{"io_threads": 1, "http": {"headers_max": 5, "head_byte_max": 4096}}',
                       "http.head_byte_max")):
        cfg = write(os.path.join(d, "bad.json"), text)
        r = run_fcd(["--check-config", "--config", cfg])
        assert r.returncode == 2, (text, r)
        assert key.encode() in r.stderr and b"unknown key" in r.stderr, (text, r.stderr)
        assert b"configuration ok" not in r.stdout


def test_check_config_bad_values_name_the_key():
    d = tempfile.mkdtemp(prefix="fcd-e2e-")
    cases = [
        ('{"io_threads": 0}', "io_threads"),
        ('{"io_threads": 100000}', "io_threads"),
        ('{"workers": "two"}', "workers"),
        ('{"log_level": "loud"}', "log_level"),
        ('{"access_log": "yes"}', "access_log"),
        ('{"listen": "nowhere"}', "listen"),
        ('{"listen": "127.0.0.1:70000"}', "listen"),
        ('{"data_dir": ""}', "data_dir"),
        ('{"http": {"headers_max": "ten"}}', "http.headers_max"),
        ('{"http": {"head_bytes_max": 10}}', "http.head_bytes_max"),
        ('{"http": {"body_async_bytes_max": 99999999}}', "http.body_async_bytes_max"),
        ('{"http": {"connections_max": -1}}', "http.connections_max"),
        ('{"http": {"uring_basic": 1}}', "http.uring_basic"),
    ]
    for text, key in cases:
        cfg = write(os.path.join(d, "bad.json"), text)
        r = run_fcd(["--check-config", "--config", cfg])
        assert r.returncode == 2, (text, r)
        assert re.search(rb"(^|[ :])" + re.escape(key.encode()) + rb":", r.stderr), (text, r.stderr)
    for text in ('{"io_threads": 1', '[1, 2]', '{"io_threads": 1, "io_threads": 2}'):
        cfg = write(os.path.join(d, "broken.json"), text)
        r = run_fcd(["--check-config", "--config", cfg])
        assert r.returncode == 2 and cfg.encode() in r.stderr, (text, r)
    r = run_fcd(["--check-config", "--config", os.path.join(d, "missing.json")])
    assert r.returncode == 2 and b"missing.json" in r.stderr, r


def test_bad_flag_values_name_the_key():
    cases = [
        (["--io-threads", "abc"], b"io_threads"),
        (["--io-threads", "0"], b"io_threads"),
        (["--workers", "-3"], b"workers"),
        (["--log-level", "loud"], b"log_level"),
        (["--listen", "1.2.3.4"], b"listen"),
        (["--listen", "[::1:80"], b"listen"),
        (["--data-dir", ""], b"data_dir"),
        (["--bogus"], b"--bogus"),
        (["--io-threads"], b"--io-threads"),
        (["stray"], b"stray"),
    ]
    for args, key in cases:
        r = run_fcd(["--check-config"] + args)
        assert r.returncode == 2, (args, r)
        assert key in r.stderr, (args, r.stderr)
    # Flags override the file.
    d = tempfile.mkdtemp(prefix="fcd-e2e-")
    cfg = write(os.path.join(d, "c.json"), '{"io_threads": 0}')
    assert run_fcd(["--check-config", "--config", cfg, "--io-threads", "1"]).returncode == 2
    cfg = write(os.path.join(d, "c.json"), '{"io_threads": 3, "log_level": "info"}')
    with Fcd(config=open(cfg).read(), io_threads=1) as f:
        assert wait_for(lambda: b"1 io threads" in f.read_log(), 5 * SLOW), f.read_log()
        assert f.stop() == 0
    r = run_fcd(["--help"])
    assert r.returncode == 0 and b"--pid-file" in r.stdout, r


def test_pid_file_foreground():
    d = tempfile.mkdtemp(prefix="fcd-e2e-")
    pid_file = os.path.join(d, "fcd.pid")
    with Fcd(args=["--pid-file", pid_file]) as f:
        assert wait_for(lambda: os.path.exists(pid_file), 5 * SLOW)
        with open(pid_file) as p:
            assert p.read().strip() == str(f.proc.pid)
        assert request(f, GET_HEALTH)[0] == 200
        assert f.stop() == 0
        assert not os.path.exists(pid_file), "pid file left behind"


def pid_gone(pid):
    """True when pid no longer runs (gone, or a zombie not reaped yet)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_daemonize():
    d = tempfile.mkdtemp(prefix="fcd-e2e-")
    data, pid_file = os.path.join(d, "data"), os.path.join(d, "fcd.pid")
    err_path = os.path.join(d, "launcher.err")
    daemon_pid = None
    try:
        with open(err_path, "wb") as err:
            launcher = subprocess.Popen(
                [FCD, "--listen", "127.0.0.1:0", "--data-dir", data, "--io-threads", "1",
                 "--pid-file", pid_file], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err)
            assert launcher.wait(10 * SLOW) == 0, "the launching process exits 0"
        assert wait_for(lambda: os.path.exists(pid_file) and os.path.getsize(pid_file) > 0,
                        5 * SLOW), "no pid file"
        with open(pid_file) as p:
            daemon_pid = int(p.read())
        assert daemon_pid != launcher.pid and not pid_gone(daemon_pid)
        with open("/proc/%d/cmdline" % daemon_pid, "rb") as c:
            assert os.path.basename(FCD).encode() in c.read()
        with open("/proc/%d/stat" % daemon_pid) as st:
            fields = st.read().rsplit(")", 1)[1].split()
        assert int(fields[3]) != daemon_pid, "the daemon is not a session leader"
        log_path = os.path.join(data, "fcd.log")
        pat = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")

        def port():
            with open(log_path, "rb") as lf:
                m = pat.search(lf.read())
            return int(m.group(1)) if m else None
        p = wait_for(port, 5 * SLOW)
        assert p, "no listening line in %s" % log_path
        assert wait_for(lambda: b"fcd started (pid %d" % daemon_pid in open(log_path, "rb").read(),
                        5 * SLOW), "the log names the daemon's pid"
        assert os.path.getsize(err_path) == 0, open(err_path, "rb").read()

        class F:  # enough of Fcd for request()
            pass
        f = F()
        f.connect = lambda timeout=10.0: Fcd.connect(f, timeout)
        f.host, f.port = "127.0.0.1", p
        status, _, _ = request(f, GET_HEALTH)
        assert status == 200
        assert wait_for(lambda: b"access GET /healthz 200" in open(log_path, "rb").read(),
                        5 * SLOW), "access line in the daemon's log"
        os.kill(daemon_pid, signal.SIGTERM)
        assert wait_for(lambda: pid_gone(daemon_pid), 10 * SLOW), "daemon survived SIGTERM"
        daemon_pid = None
        assert wait_for(lambda: not os.path.exists(pid_file), 2 * SLOW), "pid file left"
        with open(log_path, "rb") as lf:
            assert b"fcd stopped" in lf.read()
        check_log_clean(log_path)
    finally:
        if daemon_pid is not None and not pid_gone(daemon_pid):
            os.kill(daemon_pid, signal.SIGKILL)


def test_sighup_reloads_log_settings():
    with Fcd(config='{"access_log": false}') as f:
        def get(target):
            with f.connect() as s:
                s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_response(s)[0] == 200

        def hup(text, count):
            write(f.config_path, text)
            f.signal(signal.SIGHUP)
            assert wait_for(lambda: f.read_log().count(b"SIGHUP: reloaded") == count, 5 * SLOW), \
                f.read_log()

        get(b"/healthz?phase=off1")
        hup('{"access_log": true}', 1)
        get(b"/healthz?phase=on1")
        assert wait_for(lambda: b"access GET /healthz?phase=on1 200" in f.read_log(), 5 * SLOW)
        hup('{"access_log": false}', 2)
        get(b"/healthz?phase=off2")
        hup('{"access_log": true}', 3)
        get(b"/healthz?phase=on2")
        assert wait_for(lambda: b"access GET /healthz?phase=on2 200" in f.read_log(), 5 * SLOW)
        log = f.read_log()
        assert b"phase=off1" not in log and b"phase=off2" not in log, log
        # log_level: at "warn" the INFO confirmation is no longer written,
        # while an ERROR (a broken file on the next SIGHUP) still is.
        write(f.config_path, '{"log_level": "warn", "access_log": true}')
        f.signal(signal.SIGHUP)
        get(b"/healthz?phase=warn")  # access lines are not subject to the level
        assert wait_for(lambda: b"phase=warn 200" in f.read_log(), 5 * SLOW)
        write(f.config_path, '{"log_level": ')
        f.signal(signal.SIGHUP)
        assert wait_for(lambda: b"config not reloaded" in f.read_log(), 5 * SLOW), f.read_log()
        assert f.read_log().count(b"SIGHUP: reloaded") == 3, f.read_log()
        hup('{"log_level": "info", "access_log": true}', 4)
        assert request(f, GET_HEALTH)[0] == 200
        assert f.stop() == 0


def test_sighup_without_config_file():
    with Fcd() as f:
        f.signal(signal.SIGHUP)
        assert wait_for(lambda: b"no config file to reload" in f.read_log(), 5 * SLOW)
        assert request(f, GET_HEALTH)[0] == 200
        assert f.stop() == 0


def test_listen_ipv6_loopback():
    with Fcd(host="::1", io_threads=2) as f:
        assert re.search(rb"listening on \[::1\]:\d+", f.read_log())
        with f.connect() as s:
            assert s.family == socket.AF_INET6
            s.sendall(GET_HEALTH * 3)
            assert [read_response(s)[0] for _ in range(3)] == [200] * 3
        assert f.stop() == 0


def test_exit_status_sigterm_and_sigint():
    for sig in (signal.SIGTERM, signal.SIGINT):
        with Fcd() as f:
            assert request(f, GET_HEALTH)[0] == 200
            with f.connect() as idle:
                idle.sendall(GET_HEALTH)
                assert read_response(idle)[0] == 200
                assert f.stop(sig=sig) == 0, sig
            log = f.read_log()
            assert b"draining" in log and b"fcd stopped" in log, log
