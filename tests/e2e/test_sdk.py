"""The official Node.js SDK for FC 2.0, @alicloud/fc2 2.6.6, unchanged, against
fcd with its signature checks on (CONTRACT.md §4, §5, §8.1): the whole life
cycle of a service through the management API (create, invoke sync with a
log tail and async, list/get/update, async config, HTTP trigger, delete) and
the FC errors the SDK surfaces (wrong secret, unknown key, missing function).

The SDK steps live in sdk/flow.js, which prints one JSON line per step; the
SDK itself is installed in sdk/node_modules by `make deps` (npm install)."""
import io
import json
import os
import shutil
import subprocess
import zipfile

from fcd import SLOW, Fcd

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SDK_DIR = os.path.join(HERE, "sdk")
FLOW = os.path.join(SDK_DIR, "flow.js")
NODE_EXAMPLE = os.path.join(ROOT, "examples", "node")
HELLO_C = os.path.join(ROOT, "examples", "hello-c")
AK, SECRET = "LTAIfcdE2eSdkKey", "sdk-e2e-secret/+=x"
ACCOUNT = "1234567890123456"

FLOW_STEPS = [
    "auth_is_on", "createService", "createFunction", "createTrigger", "invokeFunction_sync_tail",
    "invokeFunction_env", "invokeFunction_function_error", "invokeFunction_async",
    "invokeFunction_async_task", "listServices", "listFunctions", "listTriggers", "getService",
    "getFunction", "getTrigger", "updateFunction", "invoke_after_update", "updateService",
    "putFunctionAsyncConfig", "getFunctionAsyncConfig", "listFunctionAsyncConfigs",
    "deleteFunctionAsyncConfig", "http_trigger_sdk_get", "http_trigger_sdk_post",
    "http_trigger_plain_http", "updateTrigger_function_auth", "deleteService_not_empty",
    "deleteFunction_with_trigger", "deleteTrigger", "deleteFunction", "deleteService", "done"]
ERROR_STEPS = ["signed_invoke_ok", "wrong_secret_invoke", "unknown_key_invoke",
               "invoke_missing_function", "wrong_secret_api", "unknown_key_api",
               "getFunction_missing", "done"]


def code_zip(src_dir, dest):
    """Zip src_dir's files (flat, as FC expects the code root) into dest,
    keeping each file's unix mode so `bootstrap` stays executable."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(os.listdir(src_dir)):
            path = os.path.join(src_dir, name)
            if not os.path.isfile(path):
                continue
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.create_system = 3  # unix: external_attr's high half is st_mode
            info.external_attr = (os.stat(path).st_mode & 0o177777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as f:
                z.writestr(info, f.read())
    return dest


def check_sdk_installed():
    node = shutil.which("node")
    assert node, "node is not installed (make deps)"
    pkg = os.path.join(SDK_DIR, "node_modules", "@alicloud", "fc2", "package.json")
    assert os.path.exists(pkg), \
        "the SDK is not installed: run `make deps` (or `cd tests/e2e/sdk && npm install`)"
    with open(pkg) as f:
        version = json.load(f)["version"]
    assert version == "2.6.6", "tests/e2e/sdk has @alicloud/fc2 %s, not 2.6.6" % version
    return node


def run_flow(f, mode, extra_env=None, timeout=60.0):
    """Run flow.js against fcd f in mode; returns the parsed step lines.
    Fails (AssertionError) with the whole output when a step failed."""
    node = check_sdk_installed()
    env = dict(os.environ)
    for k in list(env):
        if k.lower().endswith("_proxy"):
            del env[k]  # loopback only: no proxy between the SDK and fcd
    env.update({"FC_ENDPOINT": "http://127.0.0.1:%d" % f.port, "FC_ACCESS_KEY_ID": AK,
                "FC_ACCESS_KEY_SECRET": SECRET, "FC_ACCOUNT_ID": ACCOUNT, "FLOW_MODE": mode,
                "FLOW_TIMEOUT_MS": str(int(20000 * SLOW)),
                "FLOW_WAIT_MS": str(int(15000 * SLOW))})
    env.update(extra_env or {})
    try:
        p = subprocess.run([node, FLOW], cwd=SDK_DIR, env=env, capture_output=True,
                           timeout=timeout * SLOW)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("flow.js (%s) timed out after %.0f s; output so far:\n%s\n%s" % (
            mode, timeout * SLOW, (e.stdout or b"").decode(errors="replace"),
            (e.stderr or b"").decode(errors="replace")))
    out = p.stdout.decode(errors="replace")
    steps = []
    for line in out.splitlines():
        try:
            steps.append(json.loads(line))
        except ValueError:
            raise AssertionError("flow.js printed a non-JSON line %r\n%s" % (line, out))
    failed = [s for s in steps if not s.get("ok")]
    assert p.returncode == 0 and not failed, "flow.js (%s) exited %d; failed step:\n%s\n" \
        "stdout:\n%s\nstderr:\n%s\nfcd log tail:\n%s" % (
            mode, p.returncode, json.dumps(failed[:1], indent=1), out,
            p.stderr.decode(errors="replace"), f.read_log()[-3000:].decode(errors="replace"))
    return steps


def test_sdk_full_flow():
    """Every step of the service life cycle through the stock SDK, with
    fcd's auth on (an unsigned call is refused first)."""
    with Fcd(args=["--access-key", "%s:%s" % (AK, SECRET)]) as f:
        # Code unpacked under the data dir is run by an unprivileged instance
        # user: the test's private temp dir must let it through.
        os.chmod(f.dir, 0o755)
        z = code_zip(NODE_EXAMPLE, os.path.join(f.dir, "node.zip"))
        steps = run_flow(f, "flow", {"CODE_ZIP": z}, timeout=60)
        names = [s["step"] for s in steps]
        assert names == FLOW_STEPS, names
        by = {s["step"]: s for s in steps}
        assert by["auth_is_on"]["code"] == "AccessDenied", by["auth_is_on"]
        assert by["createService"]["status"] == 200, by["createService"]
        assert by["createFunction"]["status"] == 200, by["createFunction"]
        assert f.stop() == 0


def test_sdk_errors():
    """Wrong secret → SignatureNotMatch 403, unknown key → InvalidAccessKeyID
    403 (management API and InvokeFunction), missing function →
    FunctionNotFound 404, as FC errors the SDK parses (err.code, err.name)."""
    args = ["--access-key", "%s:%s" % (AK, SECRET), "--function", "c=%s" % HELLO_C]
    with Fcd(args=args) as f:
        steps = run_flow(f, "errors", timeout=40)
        assert [s["step"] for s in steps] == ERROR_STEPS, steps
        # The SDK built its messages from the FC error (request id included).
        for s in steps:
            if "message" in s:
                assert "requestid: " in s["message"], s
        assert f.stop() == 0


def test_sdk_zip_keeps_modes():
    """The helper that builds the code zip keeps bootstrap executable (a
    guard on the test itself: a lost mode would fail as FunctionNotStarted)."""
    buf = io.BytesIO()
    code_zip(NODE_EXAMPLE, buf)
    with zipfile.ZipFile(buf) as z:
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}
    assert modes.get("bootstrap", 0) & 0o111 == 0o111, modes
    assert "index.js" in modes, modes
