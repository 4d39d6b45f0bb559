"""Request signatures end to end (CONTRACT.md §4 and its "Minimal wire
contract" row), with fcd's auth on (--access-key). The client side here is an
independent implementation of the FC scheme with Python's hmac, hashlib and
base64 (not fcd's core/auth.c, not the Node SDK):

    Authorization: FC <ak>:base64(HMAC-SHA256(secret, StringToSign))
    StringToSign = METHOD\\n Content-MD5\\n Content-Type\\n Date\\n
                   sorted lower-case "x-fc-*:value\\n" lines + resource
    resource     = the percent-decoded path; on /proxy/ paths followed by
                   "\\n" and the sorted decoded "key=value" query lines

Valid signatures pass on the management API, InvokeFunction and an
authType-function HTTP trigger; a wrong key, an unknown key, a Date 20 minutes
off, no Date, no Authorization, and a request changed after signing (path,
method, x-fc-* header, Content-Type, trigger query) are each refused with 403
and an FC JSON error, whose body never holds the signature fcd expected."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import time
import urllib.parse
from email.utils import formatdate

from fcd import SLOW, Fcd, function_log_path, read_text

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
HELLO_C = os.path.join(ROOT, "examples", "hello-c")
AK, SECRET = "LTAIauthE2eKey01", "auth-e2e/secret+="
OTHER_AK, OTHER_SECRET = "LTAIauthE2eKey02", "another-secret"
ACCOUNT = "1234567890123456"
API = "/2016-08-15"
AUTH_CODES = ("SignatureNotMatch", "InvalidAccessKeyID", "AccessDenied")


# ---- the independent signer -----------------------------------------------------------

def http_date(offset_s=0):
    """An RFC 1123 GMT date, offset_s from now."""
    return formatdate(time.time() + offset_s, usegmt=True)


def string_to_sign(method, path, headers, query=None):
    """CONTRACT.md §4. path is the raw (percent-encoded) path without the
    query; query is None (API paths: not signed) or a list of decoded
    (key, value) pairs (HTTP-trigger paths)."""
    h = {k.lower(): v for k, v in headers.items()}
    fc = "".join("%s:%s\n" % (k, h[k]) for k in sorted(k for k in h if k.startswith("x-fc-")))
    resource = urllib.parse.unquote(path)
    if query is not None:
        resource += "\n" + "\n".join(sorted("%s=%s" % kv for kv in query))
    return "%s\n%s\n%s\n%s\n%s%s" % (method, h.get("content-md5", ""), h.get("content-type", ""),
                                     h.get("date", h.get("x-fc-date", "")), fc, resource)


def signature(secret, sts):
    mac = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def signed_headers(method, path, headers=None, query=None, ak=AK, secret=SECRET, date=True):
    """headers plus Date (unless date is False or given) and Authorization."""
    h = dict(headers or {})
    if date is True and "date" not in {k.lower() for k in h}:
        h["Date"] = http_date()
    if "x-fc-account-id" not in {k.lower() for k in h}:
        h["x-fc-account-id"] = ACCOUNT
    sig = signature(secret, string_to_sign(method, path, h, query))
    h["Authorization"] = "FC %s:%s" % (ak, sig)
    return h


def call(f, method, target, headers=None, body=None, timeout=15.0):
    """One request on a new connection: (status, lower-case headers, body)."""
    c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=timeout * SLOW)
    try:
        c.request(method, target, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def signed(f, method, path, headers=None, body=None, query=None, **kw):
    """A request signed for exactly what is sent."""
    target = path + ("?" + urllib.parse.urlencode(query) if query else "")
    signq = query if path.startswith(API + "/proxy/") else None
    if body is not None:
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
    return call(f, method, target, signed_headers(method, path, headers, signq, **kw), body)


def check_refused(status, headers, body, codes=AUTH_CODES, expected_sig=None):
    """A 403 FC JSON error with ErrorCode in codes; the body holds neither
    the signature fcd expected nor a secret. Returns the error object."""
    assert status == 403, (status, headers, body)
    assert headers.get("content-type") == "application/json", headers
    err = json.loads(body)
    assert err["ErrorCode"] == err["Code"], err
    assert err["ErrorCode"] in ((codes,) if isinstance(codes, str) else codes), err
    assert err["ErrorMessage"] == err["Message"] and err["ErrorMessage"], err
    assert err["RequestId"] == headers.get("x-fc-request-id"), (err, headers)
    text = body.decode(errors="replace")
    if expected_sig:
        assert expected_sig not in text, text
    for s in (SECRET, OTHER_SECRET):
        assert s not in text, text
    return err


def fcd_with_auth():
    """fcd with two keys, function svc/fn (authType function HTTP trigger,
    GET and POST) and svc/anon (anonymous trigger), both the C example."""
    cfg = {"services": {"svc": {"functions": {
        "fn": {"code_dir": HELLO_C,
               "http_trigger": {"auth_type": "function", "methods": ["GET", "POST"]}},
        "anon": {"code_dir": HELLO_C, "http_trigger": {"auth_type": "anonymous"}}}}}}
    return Fcd(config=json.dumps(cfg), args=["--access-key", "%s:%s" % (AK, SECRET),
                                             "--access-key", "%s:%s" % (OTHER_AK, OTHER_SECRET)])


def invoke_path(fn="fn", svc="svc"):
    return "%s/services/%s/functions/%s/invocations" % (API, svc, fn)


def octet(extra=None):
    h = {"Content-Type": "application/octet-stream"}
    h.update(extra or {})
    return h


# ---- the management API ----------------------------------------------------------------

def test_api_signed_ok():
    """Signed GET /2016-08-15/services → 200 with a service list; SDK header
    styles all verify: lower-case (Node), canonical case (Go), x-fc-date
    instead of Date (Java, console), a second key; queries on API paths are
    not signed (every SDK signs the path only)."""
    with fcd_with_auth() as f:
        st, h, body = signed(f, "GET", API + "/services")
        assert st == 200, (st, body)
        doc = json.loads(body)
        assert isinstance(doc.get("services"), list), doc
        # Go style: canonical-case names, an empty x-fc-account-id.
        st, _, body = signed(f, "GET", API + "/services", {"X-Fc-Account-Id": ""})
        assert st == 200, (st, body)
        # x-fc-date replaces Date.
        st, _, body = call(f, "GET", API + "/services", signed_headers(
            "GET", API + "/services", {"x-fc-date": http_date()}, date=False))
        assert st == 200, (st, body)
        st, _, body = signed(f, "GET", API + "/services", ak=OTHER_AK, secret=OTHER_SECRET)
        assert st == 200, (st, body)
        hs = signed_headers("GET", API + "/services")
        st, _, body = call(f, "GET", API + "/services?limit=5&prefix=s", hs)
        assert st == 200, (st, body)
        # A Date 10 minutes off is still within FC's 15.
        for off in (-600, 600):
            st, _, body = signed(f, "GET", API + "/services", {"Date": http_date(off)})
            assert st == 200, (off, st, body)
        assert f.stop() == 0


def test_api_wrong_and_unknown_key():
    with fcd_with_auth() as f:
        path = API + "/services"
        good = signed_headers("GET", path)
        expected = good["Authorization"].split(":", 1)[1]
        # Same key id, signed with another secret.
        bad = signed_headers("GET", path, {"Date": good["Date"]}, secret="not-the-secret")
        check_refused(*call(f, "GET", path, bad), codes="SignatureNotMatch", expected_sig=expected)
        # Another configured key's secret under this key id.
        bad = signed_headers("GET", path, {"Date": good["Date"]}, secret=OTHER_SECRET)
        check_refused(*call(f, "GET", path, bad), codes="SignatureNotMatch", expected_sig=expected)
        # The signature right, bytes of it changed.
        sig = list(expected)
        sig[5] = "A" if sig[5] != "A" else "B"
        bad = dict(good, Authorization="FC %s:%s" % (AK, "".join(sig)))
        check_refused(*call(f, "GET", path, bad), codes="SignatureNotMatch", expected_sig=expected)
        # An unknown key id: InvalidAccessKeyID, naming it.
        bad = signed_headers("GET", path, ak="LTAInobody", secret=SECRET)
        err = check_refused(*call(f, "GET", path, bad), codes="InvalidAccessKeyID",
                            expected_sig=expected)
        assert "LTAInobody" in err["ErrorMessage"], err
        assert f.stop() == 0


def test_api_date_skew_and_missing_date():
    """Date more than 15 minutes off → 403 (CONTRACT.md's table: SignatureNotMatch;
    AccessDenied is accepted too); no Date at all → 403."""
    with fcd_with_auth() as f:
        path = API + "/services"
        for off in (-1200, 1200, -86400 * 365):
            h = signed_headers("GET", path, {"Date": http_date(off)})
            check_refused(*call(f, "GET", path, h), codes=("SignatureNotMatch", "AccessDenied"),
                          expected_sig=h["Authorization"].split(":", 1)[1])
        # Signed without a Date line value, sent without Date.
        h = signed_headers("GET", path, date=False)
        check_refused(*call(f, "GET", path, h), codes=("AccessDenied", "SignatureNotMatch"))
        # A Date that is not an HTTP date.
        h = signed_headers("GET", path, {"Date": "yesterday"})
        check_refused(*call(f, "GET", path, h), codes=("AccessDenied", "SignatureNotMatch"))
        assert f.stop() == 0


def test_api_missing_or_malformed_authorization():
    """With keys configured every management call must be signed: unsigned →
    403 AccessDenied, and it changed nothing."""
    with fcd_with_auth() as f:
        path = API + "/services"
        check_refused(*call(f, "GET", path), codes="AccessDenied")
        check_refused(*call(f, "GET", path, {"Date": http_date()}), codes="AccessDenied")
        body = json.dumps({"serviceName": "unsigned-svc"})
        check_refused(*call(f, "POST", path, {"Content-Type": "application/json",
                                              "Date": http_date()}, body), codes="AccessDenied")
        for auth in ("FC", "FC %s" % AK, "FC :abc", "FC %s:" % AK, "Bearer abc", "fc %s:xyz" % AK,
                     "FC %s:%s extra" % (AK, "A" * 44)):
            st, h, b = call(f, "GET", path, {"Date": http_date(), "Authorization": auth})
            check_refused(st, h, b)
        # Nothing was created by the unsigned POST.
        st, _, b = signed(f, "GET", path + "/unsigned-svc")
        assert st == 404 and json.loads(b)["ErrorCode"] == "ServiceNotFound", (st, b)
        assert f.stop() == 0


def test_api_tampered_request():
    """A request changed after signing is refused and has no effect: another
    path, another method (a DELETE signed as GET), an x-fc-* header added or
    changed, Content-Type changed."""
    with fcd_with_auth() as f:
        body = json.dumps({"serviceName": "keep-me", "description": "d"})
        st, _, b = signed(f, "POST", API + "/services", body=body)
        assert st == 200, (st, b)
        # Path: signed for /services/other, sent to /services/keep-me.
        h = signed_headers("GET", API + "/services/other")
        check_refused(*call(f, "GET", API + "/services/keep-me", h), codes="SignatureNotMatch",
                      expected_sig=signed_headers("GET", API + "/services/keep-me",
                                                  {"Date": h["Date"]})["Authorization"])
        # Method: signed as GET, sent as DELETE.
        h = signed_headers("GET", API + "/services/keep-me")
        check_refused(*call(f, "DELETE", API + "/services/keep-me", h), codes="SignatureNotMatch")
        # x-fc-* header changed, and one added after signing.
        h = signed_headers("GET", API + "/services/keep-me", {"x-fc-trace-id": "a"})
        check_refused(*call(f, "GET", API + "/services/keep-me", dict(h, **{"x-fc-trace-id": "b"})),
                      codes="SignatureNotMatch")
        h = signed_headers("GET", API + "/services/keep-me")
        check_refused(*call(f, "GET", API + "/services/keep-me", dict(h, **{"X-Fc-Extra": "1"})),
                      codes="SignatureNotMatch")
        # x-fc-account-id changed (the SDK always signs it).
        check_refused(*call(f, "GET", API + "/services/keep-me",
                            dict(h, **{"x-fc-account-id": "999"})), codes="SignatureNotMatch")
        # Content-Type changed on an update.
        upd = json.dumps({"description": "changed"})
        h = signed_headers("PUT", API + "/services/keep-me", {"Content-Type": "application/json"})
        h["Content-Type"] = "text/plain"
        check_refused(*call(f, "PUT", API + "/services/keep-me", h, upd), codes="SignatureNotMatch")
        # None of it took effect.
        st, _, b = signed(f, "GET", API + "/services/keep-me")
        assert st == 200 and json.loads(b)["description"] == "d", (st, b)
        # The decoded path is what is signed: %-encoding a letter still verifies.
        h = signed_headers("GET", API + "/services/keep-me")
        st, _, b = call(f, "GET", API + "/services/keep%2Dme", h)
        assert st != 403, (st, b)
        assert f.stop() == 0


def test_api_closed_without_keys_unless_anonymous():
    """No keys configured: the management API is closed (403 AccessDenied,
    nothing created) while InvokeFunction stays open; --api-anonymous opens
    it. Keys plus --api-anonymous: unsigned calls pass, a signed one is
    still verified (a wrong signature is not waved through)."""
    fn = ["--function", "c=%s" % HELLO_C]
    with Fcd(args=fn) as f:
        check_refused(*call(f, "GET", API + "/services"), codes="AccessDenied")
        check_refused(*call(f, "POST", API + "/services", {"Content-Type": "application/json"},
                            json.dumps({"serviceName": "x"})), codes="AccessDenied")
        st, _, b = call(f, "POST", invoke_path("c", "default"), octet(), b"open")
        assert (st, b) == (200, b"hello, open"), (st, b)
        assert f.stop() == 0
    with Fcd(args=fn + ["--api-anonymous"]) as f:
        st, _, b = call(f, "GET", API + "/services")
        assert st == 200, (st, b)
        assert f.stop() == 0
    with Fcd(args=fn + ["--api-anonymous", "--access-key", "%s:%s" % (AK, SECRET)]) as f:
        st, _, b = call(f, "GET", API + "/services")
        assert st == 200, (st, b)
        st, _, b = signed(f, "GET", API + "/services")
        assert st == 200, (st, b)
        check_refused(*call(f, "GET", API + "/services",
                            signed_headers("GET", API + "/services", secret="nope")),
                      codes="SignatureNotMatch")
        assert f.stop() == 0


# ---- InvokeFunction ----------------------------------------------------------------------

def test_invoke_signed_and_unsigned():
    """InvokeFunction with auth on: signed → 200 and the function ran;
    unsigned, wrong key, unknown key, tampered x-fc-invocation-type or path →
    403, and the function did not run for any of them."""
    with fcd_with_auth() as f:
        path = invoke_path()
        st, h, b = signed(f, "POST", path, octet(), b"signed")
        assert st == 200 and b == b"hello, signed", (st, h, b)
        refused = []

        def refuse(resp, codes):
            check_refused(*resp, codes=codes)
            refused.append(resp[1]["x-fc-request-id"])
        refuse(call(f, "POST", path, octet(), b"unsigned"), "AccessDenied")
        refuse(call(f, "POST", path, octet({"Date": http_date()}), b"unsigned"), "AccessDenied")
        refuse(call(f, "POST", path, signed_headers("POST", path, octet(), secret="nope"),
                    b"wrong"), "SignatureNotMatch")
        refuse(call(f, "POST", path, signed_headers("POST", path, octet(), ak="LTAInobody"),
                    b"unknown"), "InvalidAccessKeyID")
        # Signed as Sync, sent as Async (and the other way round).
        hs = signed_headers("POST", path, octet({"x-fc-invocation-type": "Sync"}))
        refuse(call(f, "POST", path, dict(hs, **{"x-fc-invocation-type": "Async"}), b"tamper"),
               "SignatureNotMatch")
        hs = signed_headers("POST", path, octet({"x-fc-invocation-type": "Async"}))
        refuse(call(f, "POST", path, dict(hs, **{"x-fc-invocation-type": "Sync"}), b"tamper"),
               "SignatureNotMatch")
        # An x-fc-log-type added after signing.
        hs = signed_headers("POST", path, octet())
        refuse(call(f, "POST", path, dict(hs, **{"x-fc-log-type": "Tail"}), b"tamper"),
               "SignatureNotMatch")
        # Signed for svc/fn, sent to svc/anon.
        hs = signed_headers("POST", path, octet())
        refuse(call(f, "POST", invoke_path("anon"), hs, b"moved"), "SignatureNotMatch")
        # Date skew on the invoke path too.
        old = signed_headers("POST", path, octet({"Date": http_date(-1200)}))
        refuse(call(f, "POST", path, old, b"old"), ("SignatureNotMatch", "AccessDenied"))
        # Async, signed: 202.
        st, h, b = signed(f, "POST", path, octet({"x-fc-invocation-type": "Async"}), b"later")
        assert st == 202 and b == b"", (st, h, b)
        time.sleep(0.3 * SLOW)
        for fn in ("fn", "anon"):
            log = read_text(function_log_path(f, fn, "svc"))
            for rid in refused:
                assert rid not in log, (fn, rid, log)
        assert f.stop() == 0


# ---- HTTP triggers ---------------------------------------------------------------------

def test_trigger_function_auth_query():
    """authType function: the signature covers the sorted query lines. Signed
    → 200 (any parameter order on the wire); a value changed, a parameter
    added or removed, the path changed → 403 SignatureNotMatch; unsigned →
    403. An anonymous trigger stays open with auth on."""
    with fcd_with_auth() as f:
        path = API + "/proxy/svc/fn/items/a b"
        wire_path = urllib.parse.quote(path)
        q = [("b", "2"), ("a", "x y"), ("a", "1")]
        hs = signed_headers("GET", wire_path, query=q)
        target = wire_path + "?" + urllib.parse.urlencode(q)
        st, h, b = call(f, "GET", target, hs)
        assert st == 200, (st, b)
        echo = json.loads(b)
        assert echo["method"] == "GET" and echo["path"] in (wire_path, path), echo
        # Same parameters in another order on the wire: still valid.
        st, _, b = call(f, "GET", wire_path + "?a=1&b=2&a=x%20y", hs)
        assert st == 200, (st, b)
        # POST with a body and a query.
        st, _, b = signed(f, "POST", wire_path, {"Content-Type": "text/plain"}, b"data",
                          query=[("k", "v")])
        assert st == 200 and json.loads(b)["bodyLength"] == 4, (st, b)
        expected = hs["Authorization"].split(":", 1)[1]
        for bad in ("?b=3&a=x%20y&a=1", "?b=2&a=x%20y&a=1&c=0", "?b=2&a=1", "?b=2&a=x+z&a=1",
                    ""):
            check_refused(*call(f, "GET", wire_path + bad, hs), codes="SignatureNotMatch",
                          expected_sig=expected)
        check_refused(*call(f, "GET", API + "/proxy/svc/fn/items/other?" +
                            urllib.parse.urlencode(q), hs), codes="SignatureNotMatch")
        check_refused(*call(f, "GET", target, dict(hs, **{"x-fc-extra": "1"})),
                      codes="SignatureNotMatch")
        check_refused(*call(f, "GET", target), codes="AccessDenied")
        check_refused(*call(f, "GET", target, signed_headers("GET", wire_path, query=q,
                                                             secret="nope")),
                      codes="SignatureNotMatch")
        check_refused(*call(f, "GET", target, signed_headers("GET", wire_path, query=q,
                                                             ak="LTAInobody")),
                      codes="InvalidAccessKeyID")
        # The API-path rule (query not signed) does not hold on a trigger.
        check_refused(*call(f, "GET", target, signed_headers("GET", wire_path)),
                      codes="SignatureNotMatch")
        # Anonymous: no signature needed, a bad one ignored.
        st, _, b = call(f, "GET", API + "/proxy/svc/anon/x?q=1")
        assert st == 200, (st, b)
        st, _, b = call(f, "GET", API + "/proxy/svc/anon/x?q=1",
                        {"Date": http_date(), "Authorization": "FC %s:garbage" % AK})
        assert st == 200, (st, b)
        assert f.stop() == 0
