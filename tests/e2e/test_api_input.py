"""Bad input on the management API (CONTRACT.md §2.4, §5), auth off, raw HTTP:
malformed JSON and wrong types → 400 InvalidArgument; names outside FC's rule
→ 400; code packages that escape their directory (`../`, absolute names,
symlinks), zip bombs (honest and lying sizes), non-zip and non-base64 code →
400 with nothing half-created; duplicates → 409 *AlreadyExists; deleting a
service with functions or a function with triggers is refused; unknown names
→ 404 *NotFound. Each refusal is checked to have changed nothing."""
import base64
import http.client
import json
import os
import random
import struct
import tempfile
import time
import uuid
import zlib

from fcd import SLOW, Fcd, check_error

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
HELLO_C = os.path.join(ROOT, "examples", "hello-c")
API = "/2016-08-15"
MiB = 1 << 20


# ---- raw HTTP ---------------------------------------------------------------------------

def api(f, method, path, doc=None, raw=None, timeout=30.0):
    """A management call: doc is JSON-encoded (or raw bytes sent as they are)
    with Content-Type application/json. Returns (status, lower-case headers,
    body bytes)."""
    body = raw if raw is not None else (None if doc is None else json.dumps(doc).encode())
    c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=timeout * SLOW)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        c.request(method, API + path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def ok(resp, status=200):
    st, h, body = resp
    assert st == status, (st, body)
    return json.loads(body) if body else None


def refused(resp, status=400, code="InvalidArgument"):
    """An FC JSON error (fcd.check_error); code may be a tuple of allowed codes."""
    st, h, body = resp
    codes = code if isinstance(code, tuple) else (code,)
    err = json.loads(body) if body else {}
    return check_error(st, h, body, status, err.get("ErrorCode") if err.get("ErrorCode") in codes
                       else codes[0])


def create_service(f, name="svc", **fields):
    return ok(api(f, "POST", "/services", dict({"serviceName": name}, **fields)))


def function_doc(name, zip_bytes, **fields):
    doc = {"functionName": name, "runtime": "custom", "handler": "index.handler",
           "code": {"zipFile": base64.b64encode(zip_bytes).decode()}, "caPort": 9000}
    doc.update(fields)
    return doc


def assert_no_function(f, svc, fn):
    refused(api(f, "GET", "/services/%s/functions/%s" % (svc, fn)), 404, "FunctionNotFound")
    names = [x["functionName"] for x in ok(api(f, "GET", "/services/%s/functions" % svc))
             .get("functions", [])]
    assert fn not in names, names


def tree_bytes(top):
    """Disk space the files under top take (st_blocks: sparse files count
    what they use; symlinks not followed)."""
    total = 0
    for d, _, files in os.walk(top):
        for n in files:
            try:
                total += os.lstat(os.path.join(d, n)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def escaped(f, name):
    """Where a file `name` written by a traversing zip entry could be: anywhere
    under fcd's temp dir (its data dir, so every code dir and their parents),
    next to that temp dir, or in /tmp (absolute names and long ../ chains).
    Returns the paths found."""
    found = [os.path.join(d, n) for d, dirs, files in os.walk(f.dir) for n in dirs + files
             if n == name]
    return found + [p for p in (os.path.join(os.path.dirname(f.dir), name),
                                os.path.join("/tmp", name)) if os.path.lexists(p)]


# ---- zip archives written byte by byte ----------------------------------------------------
# zipfile cannot write what these tests need (a lying size, a symlink entry,
# any name at all), so the format is written here (APPNOTE.TXT 4.3).

def zip_entry(name, data=b"", mode=0o100644, deflate=False, size=None, crc=None, usize=None):
    """One entry. data is the content (deflated here when deflate is set)
    unless size is given: then data is taken as already-deflated bytes of
    `size` uncompressed bytes with CRC crc. usize overrides the size the
    headers declare."""
    if size is None:
        size, crc = len(data), zlib.crc32(data)
        if deflate:
            co = zlib.compressobj(9, zlib.DEFLATED, -15)
            data = co.compress(data) + co.flush()
    return {"name": name.encode(), "data": data, "method": 8 if deflate else 0, "crc": crc,
            "size": size if usize is None else usize, "mode": mode}


def zip_bytes(entries):
    out, central = bytearray(), bytearray()
    dos_time, dos_date = 0, (2026 - 1980) << 9 | 1 << 5 | 1
    for e in entries:
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034b50, 20, 0, e["method"], dos_time, dos_date,
                           e["crc"], len(e["data"]), e["size"], len(e["name"]), 0)
        out += e["name"] + e["data"]
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 3 << 8 | 20, 20, 0, e["method"],
                               dos_time, dos_date, e["crc"], len(e["data"]), e["size"],
                               len(e["name"]), 0, 0, 0, 0, e["mode"] << 16, offset)
        central += e["name"]
    eocd = struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, len(entries), len(entries), len(central),
                       len(out), 0)
    return bytes(out + central + eocd)


def zeros_entry(name, total, usize=None, noise=0):
    """A deflated entry of `total` bytes: per MiB, `noise` fixed pseudo-random
    bytes then zeros (noise 0: all zeros, ~1 KB per MiB; noise 4500: ~5.6 KB
    per MiB, a ratio under 200:1). Built in ~0.3 s per GiB: every 1 MiB block
    ends in a full flush, so all blocks are the same bytes, compressed once."""
    assert total % MiB == 0 and noise < MiB
    chunk = random.Random(7).randbytes(noise) + bytes(MiB - noise)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = co.compress(chunk) + co.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(total // MiB):
        crc = zlib.crc32(chunk, crc)
    data = block * (total // MiB) + co.flush(zlib.Z_FINISH)
    return {"name": name.encode(), "data": data, "method": 8, "crc": crc,
            "size": total if usize is None else usize, "mode": 0o100644}


def example_entries(src=HELLO_C):
    """The C example's code dir as entries (bootstrap executable)."""
    out = []
    for n in sorted(os.listdir(src)):
        p = os.path.join(src, n)
        if os.path.isfile(p):
            with open(p, "rb") as fh:
                out.append(zip_entry(n, fh.read(), 0o100000 | (os.stat(p).st_mode & 0o777),
                                     deflate=True))
    return out


def fcd_api():
    """fcd with auth off (no keys; --api-anonymous opens the management API,
    which is closed by default). Its temp dir is opened to others: code
    unpacked under the data dir is run by an unprivileged instance user."""
    f = Fcd(args=["--api-anonymous"])
    os.chmod(f.dir, 0o755)
    return f


# ---- malformed JSON, wrong types ---------------------------------------------------------

def test_malformed_json():
    with fcd_api() as f:
        for raw in (b'{"serviceName": "a"', b'{"serviceName": "a",}', b"[]", b'"svc"', b"42",
                    b"null", b"", b"{", b'{"serviceName": "a\xff"}', b"\xef\xbb\xbf{}x",
                    b'{"serviceName": "a"} {"x": 1}'):
            refused(api(f, "POST", "/services", raw=raw))
        create_service(f, "svc")
        for raw in (b'{"functionName": "f", ', b"[1, 2]", b"not json"):
            refused(api(f, "POST", "/services/svc/functions", raw=raw))
            refused(api(f, "PUT", "/services/svc", raw=raw))
        # Nothing but svc exists.
        names = [s["serviceName"] for s in ok(api(f, "GET", "/services"))["services"]]
        assert names == ["svc"], names
        assert ok(api(f, "GET", "/services/svc/functions")).get("functions", []) == []
        assert f.stop() == 0


def test_wrong_types():
    with fcd_api() as f:
        for doc in ({"serviceName": 5}, {"serviceName": None}, {"serviceName": ["a"]}, {},
                    {"description": "no name"}):
            refused(api(f, "POST", "/services", doc))
        create_service(f, "svc")
        code = zip_bytes(example_entries())
        for bad in ({"timeout": "x"}, {"timeout": 1.5}, {"timeout": -1}, {"memorySize": "big"},
                    {"caPort": "x"}, {"environmentVariables": ["A=1"]},
                    {"environmentVariables": {"A": 1}}, {"environmentVariables": "A=1"},
                    {"runtime": 5}, {"functionName": 5}, {"code": "zip"},
                    {"code": {"zipFile": 5}}, {"instanceConcurrency": "many"},
                    {"customRuntimeConfig": {"command": "bootstrap"}}):
            doc = function_doc("fn", code)
            doc.update(bad)
            err = refused(api(f, "POST", "/services/svc/functions", doc))
            assert err["ErrorMessage"], (bad, err)
        assert_no_function(f, "svc", "fn")
        # Updates are checked the same way, and a refused one changes nothing.
        ok(api(f, "POST", "/services/svc/functions", function_doc("fn", code, timeout=7)))
        for bad in ({"timeout": "x"}, {"memorySize": "big"}, {"environmentVariables": [1]}):
            refused(api(f, "PUT", "/services/svc/functions/fn", bad))
        got = ok(api(f, "GET", "/services/svc/functions/fn"))
        assert got["timeout"] == 7 and got["runtime"] == "custom", got
        refused(api(f, "PUT", "/services/svc", {"description": 5}))
        assert f.stop() == 0


def test_names():
    """serviceName 1–128 and functionName 1–64 chars of letters, digits, '_'
    and '-', not starting with a digit or '-' (CONTRACT.md §5.2, §5.3)."""
    with fcd_api() as f:
        for name in ("bad name", "bad/name", "1abc", "-abc", "a" * 129, "", "b\u00e4d", "a.b",
                     "a%20b", "a\nb", "a:b"):
            refused(api(f, "POST", "/services", {"serviceName": name}))
        for name in ("a" * 128, "_x", "A-b_9", "svc"):
            create_service(f, name)
        code = zip_bytes(example_entries())
        for name in ("a" * 65, "1fn", "-fn", "f n", "f.n", ""):
            refused(api(f, "POST", "/services/svc/functions", function_doc(name, code)))
        ok(api(f, "POST", "/services/svc/functions", function_doc("f" * 64, code)))
        names = sorted(s["serviceName"] for s in ok(api(f, "GET", "/services"))["services"])
        assert names == sorted(["a" * 128, "_x", "A-b_9", "svc"]), names
        fns = [x["functionName"] for x in ok(api(f, "GET", "/services/svc/functions"))["functions"]]
        assert fns == ["f" * 64], fns
        assert f.stop() == 0


# ---- conflicts, missing resources ------------------------------------------------------

def test_conflicts():
    with fcd_api() as f:
        create_service(f, "svc", description="first")
        refused(api(f, "POST", "/services", {"serviceName": "svc", "description": "second"}),
                409, "ServiceAlreadyExists")
        assert ok(api(f, "GET", "/services/svc"))["description"] == "first"
        code = zip_bytes(example_entries())
        ok(api(f, "POST", "/services/svc/functions", function_doc("fn", code, timeout=5)))
        refused(api(f, "POST", "/services/svc/functions", function_doc("fn", code, timeout=9)),
                409, "FunctionAlreadyExists")
        assert ok(api(f, "GET", "/services/svc/functions/fn"))["timeout"] == 5
        trig = {"triggerName": "t", "triggerType": "http",
                "triggerConfig": {"authType": "anonymous", "methods": ["GET"]}}
        ok(api(f, "POST", "/services/svc/functions/fn/triggers", trig))
        refused(api(f, "POST", "/services/svc/functions/fn/triggers", trig), 409,
                "TriggerAlreadyExists")
        # FC refuses to delete a service that has functions, and a function
        # that has triggers; both stay.
        st, h, body = api(f, "DELETE", "/services/svc")
        assert st == 409, (st, body)
        assert json.loads(body)["ErrorCode"], body
        ok(api(f, "GET", "/services/svc"))
        st, h, body = api(f, "DELETE", "/services/svc/functions/fn")
        assert 400 <= st < 500 and json.loads(body)["ErrorCode"] == "FunctionNotEmpty", (st, body)
        ok(api(f, "GET", "/services/svc/functions/fn"))
        # In order, everything goes: 204 with no JSON content type.
        for path in ("/services/svc/functions/fn/triggers/t", "/services/svc/functions/fn",
                     "/services/svc"):
            st, h, body = api(f, "DELETE", path)
            assert st == 204 and body == b"", (path, st, body)
            assert not h.get("content-type", "").startswith("application/json"), (path, h)
        refused(api(f, "GET", "/services/svc"), 404, "ServiceNotFound")
        assert f.stop() == 0


def test_not_found():
    with fcd_api() as f:
        for method, path in (("GET", "/services/nope"), ("PUT", "/services/nope"),
                             ("DELETE", "/services/nope"), ("GET", "/services/nope/functions"),
                             ("GET", "/services/nope/functions/fn"),
                             ("POST", "/services/nope/functions")):
            doc = {"description": "x"} if method in ("PUT", "POST") else None
            if method == "POST":
                doc = function_doc("fn", zip_bytes(example_entries()))
            refused(api(f, method, path, doc), 404, "ServiceNotFound")
        create_service(f, "svc")
        for method in ("GET", "PUT", "DELETE"):
            refused(api(f, method, "/services/svc/functions/nope",
                        {"timeout": 5} if method == "PUT" else None), 404, "FunctionNotFound")
        refused(api(f, "GET", "/services/svc/functions/nope/triggers"), 404, "FunctionNotFound")
        ok(api(f, "POST", "/services/svc/functions",
               function_doc("fn", zip_bytes(example_entries()))))
        refused(api(f, "GET", "/services/svc/functions/fn/triggers/nope"), 404, "TriggerNotFound")
        refused(api(f, "DELETE", "/services/svc/functions/fn/triggers/nope"), 404,
                "TriggerNotFound")
        assert f.stop() == 0


# ---- code packages ------------------------------------------------------------------------

def test_code_package_good_control():
    """The zip writer these tests use makes code fcd runs (so the refusals
    below are about their one bad property, not a broken writer)."""
    with fcd_api() as f:
        create_service(f, "svc")
        doc = ok(api(f, "POST", "/services/svc/functions",
                     function_doc("fn", zip_bytes(example_entries()), timeout=5)))
        assert doc["codeSize"] > 0, doc
        c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=20 * SLOW)
        c.request("POST", API + "/services/svc/functions/fn/invocations", body=b"zip")
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b"hello, zip")
        c.close()
        assert f.stop() == 0


def test_code_package_path_traversal():
    """Entries named ../x, a/../../x, /abs or with a long ../ chain → 400
    InvalidArgument; no function, and no file written outside (or inside)."""
    with fcd_api() as f:
        create_service(f, "svc")
        tag = "fcd-e2e-evil-" + uuid.uuid4().hex[:12]
        names = ["../" + tag, "a/../../" + tag, "/tmp/" + tag, "../" * 16 + "tmp/" + tag,
                 "./../" + tag, "a/b/../../../" + tag]
        for i, evil in enumerate(names):
            entries = example_entries() + [zip_entry(evil, b"pwned\n")]
            refused(api(f, "POST", "/services/svc/functions",
                        function_doc("fn%d" % i, zip_bytes(entries))))
            assert_no_function(f, "svc", "fn%d" % i)
        time.sleep(0.2)
        assert not escaped(f, tag)
        # The same through UpdateFunction: refused, the old code stays.
        good = zip_bytes(example_entries())
        before = ok(api(f, "POST", "/services/svc/functions", function_doc("fn", good, timeout=5)))
        bad = zip_bytes(example_entries() + [zip_entry("../" + tag, b"pwned\n")])
        refused(api(f, "PUT", "/services/svc/functions/fn",
                    {"code": {"zipFile": base64.b64encode(bad).decode()}}))
        got = ok(api(f, "GET", "/services/svc/functions/fn"))
        assert got["codeChecksum"] == before["codeChecksum"], (before, got)
        assert got["lastModifiedTime"] == before["lastModifiedTime"], (before, got)
        assert not escaped(f, tag)
        assert f.stop() == 0


def test_code_package_symlink_escape():
    """A symlink entry pointing outside followed by a file "through" it must
    not write outside the code directory (refused, or kept inside)."""
    with fcd_api() as f:
        create_service(f, "svc")
        outside = tempfile.mkdtemp(prefix="fcd-e2e-outside-")
        os.chmod(outside, 0o777)
        entries = example_entries() + [zip_entry("lnk", outside.encode(), 0o120777),
                                       zip_entry("lnk/pwned", b"pwned\n")]
        st, h, body = api(f, "POST", "/services/svc/functions",
                          function_doc("fn", zip_bytes(entries)))
        assert st in (200, 400), (st, body)
        if st == 400:
            check_error(st, h, body, 400, "InvalidArgument")
            assert_no_function(f, "svc", "fn")
        time.sleep(0.2)
        assert os.listdir(outside) == [], os.listdir(outside)
        # The same with a relative target that climbs out.
        rel = "../" * 24 + outside.lstrip("/")
        entries = example_entries() + [zip_entry("up", rel.encode(), 0o120777),
                                       zip_entry("up/pwned2", b"pwned\n")]
        st, _, body = api(f, "POST", "/services/svc/functions",
                          function_doc("fn2", zip_bytes(entries)))
        assert st in (200, 400), (st, body)
        time.sleep(0.2)
        assert os.listdir(outside) == [], os.listdir(outside)
        os.rmdir(outside)
        assert f.stop() == 0


def test_code_package_zip_bomb():
    """1 GiB of zeros in a ~1 MiB zip (base64 under the 6 MB body limit) → 400,
    fast, nothing created, no GiB left on disk; the same with headers that
    declare 1000 bytes (a lying size must not be trusted) and spread over 16
    entries. Then 600 MiB at a ratio under 200:1 (~3.4 MiB of zip), so only
    a bound on the bytes actually written can stop it, honest and lying."""
    with fcd_api() as f:
        create_service(f, "svc")
        data_dir = os.path.join(f.dir, "data")
        before = tree_bytes(data_dir)
        cases = [("bomb", [zeros_entry("zeros.bin", 1024 * MiB)]),
                 ("liar", [zeros_entry("zeros.bin", 1024 * MiB, usize=1000)]),
                 ("many", [zeros_entry("z%d.bin" % i, 64 * MiB) for i in range(16)]),
                 ("big", [zeros_entry("big.bin", 600 * MiB, noise=4500)]),
                 ("bigliar", [zeros_entry("big.bin", 600 * MiB, usize=1000, noise=4500)])]
        for name, bomb in cases:
            z = zip_bytes(example_entries() + bomb)
            assert len(z) < 4 * MiB, (name, len(z))
            if name.startswith("big"):  # the ratio guard alone would let it through
                assert 600 * MiB / len(z) < 200, (name, len(z))
            t0 = time.monotonic()
            refused(api(f, "POST", "/services/svc/functions", function_doc(name, z), timeout=60),
                    400, ("InvalidArgument", "EntityTooLarge"))
            took = time.monotonic() - t0
            assert took < 20 * SLOW, (name, took)
            assert_no_function(f, "svc", name)
            grown = tree_bytes(data_dir) - before
            assert grown < 64 * MiB, (name, grown)
        assert f.stop() == 0


def test_code_package_not_a_zip():
    with fcd_api() as f:
        create_service(f, "svc")
        good = zip_bytes(example_entries())
        for i, zf in enumerate((base64.b64encode(b"hello, not a zip").decode(),  # not a zip
                                "!!!not base64!!!",                               # not base64
                                base64.b64encode(good[: len(good) // 2]).decode(),  # truncated
                                "")):
            refused(api(f, "POST", "/services/svc/functions",
                        dict(function_doc("fn%d" % i, good), code={"zipFile": zf})))
            assert_no_function(f, "svc", "fn%d" % i)
        # A zip whose entry fails its CRC.
        e = zip_entry("bootstrap", b"#!/bin/sh\necho hi\n", 0o100755)
        e["crc"] ^= 1
        refused(api(f, "POST", "/services/svc/functions", function_doc("crc", zip_bytes([e]))))
        assert_no_function(f, "svc", "crc")
        assert f.stop() == 0
