/* auth.h — FC 2.0 request signatures ("FC" scheme, CONTRACT.md §3.5, §4):
 * verify a request's Authorization header or signed-URL query, and sign a
 * request the same way (fcctl).
 *
 *   Authorization: FC <AccessKeyID>:base64(HMAC-SHA256(secret, StringToSign))
 *
 *   StringToSign = METHOD "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
 *                  CanonicalizedFCHeaders CanonicalizedResource
 *
 * - Content-MD5 and Content-Type are the header values or empty; Content-MD5
 *   is opaque (Node sends base64 of the hex MD5, Go the bare hex) and never
 *   checked against the body.
 * - Date is the `x-fc-date` header when present and non-empty (fc-java-sdk
 *   FcSignatureComposer "used for fc-console": browsers cannot set Date), else
 *   `Date`; RFC 1123 GMT, within FC_AUTH_DATE_SKEW_S of `now`. For a signed
 *   URL it is the `x-fc-expires` query value (Unix seconds; checked against
 *   fc-go-sdk's sign_url_request_test.go vectors).
 * - CanonicalizedFCHeaders: every header whose name starts with `x-fc-`
 *   (ASCII case-insensitive), name lower-cased, sorted by name in byte order,
 *   `name:value\n` each, empty values included. Values as received (the
 *   parser strips OWS, so a client that signs leading/trailing spaces fails).
 * - CanonicalizedResource: the percent-decoded path without the query. For
 *   HTTP-trigger targets (raw `/2016-08-15/proxy/` or `/2021-04-06/proxy/`,
 *   the rule fc_route_match uses) and for every signed URL it is followed by
 *   "\n" and the query lines joined by "\n": one `key=value` line per
 *   parameter (repeated keys give one line each), the bare `key` when the
 *   parameter has no '=', both percent-decoded with '+' as space; a signed
 *   URL leaves out `x-fc-signature`. With no query the resource ends in "\n"
 *   (path + "\n" + ""). Empty parameters (`&&`) are skipped, as Go's
 *   url.ParseQuery does. On API paths the query is not signed (every SDK).
 * - Query lines are sorted as @alicloud/fc2's helper.js does (Array.sort():
 *   UTF-16 code units), which is byte order except that a character above
 *   U+FFFF sorts before U+E000..U+FFFF. Go/Python SDKs sort by bytes/code
 *   points and differ from Node only there; fcd follows Node, the SDK the
 *   tests run.
 *
 * What the scheme cannot tell apart (FC's own property, kept for
 * compatibility): `?a%3Db=c` and `?a=b%3Dc` both give the line `a=b=c`, and a
 * %0A inside a value can imitate a line break. fcd never truncates: past a
 * _MAX below a request is refused, so no two requests that fcd would treat
 * differently are cut down to the same string.
 *
 * Known client quirks (not fixable here without such ambiguities): fc2 signs
 * the path exactly as its caller wrote it, so a path the caller percent-encoded
 * itself (e.g. getLayerVersion's encodeURIComponent(arn)) does not verify; fc2
 * leaves numeric query values out of its signature but sends them.
 *
 * Memory: no allocation. All work space is a caller-owned struct
 * fc_auth_scratch (about 33 KB; one per thread, reused); the stack use is
 * small. Thread-safe: functions keep no state; distinct threads need distinct
 * scratch and result structs. HMAC-SHA256, base64 and the constant-time
 * compare are OpenSSL libcrypto's (HMAC(), EVP_EncodeBlock, CRYPTO_memcmp).
 * The expected signature is never returned, logged or left in scratch. */
#ifndef FC_AUTH_H
#define FC_AUTH_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"
#include "core/limits.h"
#include "io/http.h"

/* Bound on the string to sign (and on the decoded query). FC limits request
 * headers to 8 KB and path+query to 4 KB (CONTRACT.md §3.4), so every request
 * FC accepts fits. Past it: FC_AUTH_TOO_LARGE (400 InvalidArgument). */
#define FC_AUTH_STRING_TO_SIGN_BYTES_MAX 16384u
/* x-fc-* headers in one request. Past it: FC_AUTH_TOO_LARGE. */
#define FC_AUTH_FC_HEADERS_MAX 64u
/* Query parameters of a signed query. Past it: FC_AUTH_TOO_LARGE. */
#define FC_AUTH_QUERY_PARAMS_MAX 1024u
/* Longest access key ID copied into a result (for the error message). */
#define FC_AUTH_KEY_ID_BYTES_MAX 128u
/* Human message in a result, NUL included. */
#define FC_AUTH_MESSAGE_BYTES_MAX 256u
/* Allowed distance between Date and `now` (CONTRACT.md §4: 15 minutes). */
#define FC_AUTH_DATE_SKEW_S 900
/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 IMF-fixdate). */
#define FC_AUTH_DATE_LEN 29u
/* base64 of a 32-byte HMAC-SHA256, padded. */
#define FC_AUTH_SIGNATURE_LEN 44u

static_assert(FC_AUTH_STRING_TO_SIGN_BYTES_MAX >= 8192u + 4096u + 64u,
              "every request within FC's header and path limits can be verified");
static_assert(FC_AUTH_FC_HEADERS_MAX <= FC_HTTP_HEADERS_MAX, "cannot exceed the parser's bound");
static_assert(FC_AUTH_QUERY_PARAMS_MAX <= FC_AUTH_STRING_TO_SIGN_BYTES_MAX / 2,
              "a parameter takes at least one byte and one separator");

/* X(name, FC error row (core/errors.h), what it means). The message of a
 * result says which header or value was wrong; the FC error row is what the
 * client gets (see fc_auth_status_error). */
#define FC_AUTH_STATUS_TABLE(X)                                                                    \
    X(OK, INTERNAL, "valid")                                                                       \
    X(MISSING_HEADER, ACCESS_DENIED, "no Authorization (nor signed URL), or no Date")              \
    X(MALFORMED, ACCESS_DENIED,                                                                    \
      "Authorization, signed-URL query or %-encoding malformed, or a "                             \
      "header the signature covers appears twice")                                                 \
    X(BAD_DATE, ACCESS_DENIED, "Date / x-fc-date is not an RFC 1123 GMT date")                     \
    X(DATE_SKEW, SIGNATURE_DATE_SKEWED,                                                            \
      "Date more than FC_AUTH_DATE_SKEW_S from now (SignatureNotMatch, CONTRACT.md)")              \
    X(EXPIRED, ACCESS_DENIED, "signed URL past its x-fc-expires")                                  \
    X(UNKNOWN_KEY, INVALID_ACCESS_KEY_ID, "no configured key has this AccessKeyID")                \
    X(SIGNATURE_MISMATCH, SIGNATURE_NOT_MATCH, "signature differs from the one computed")          \
    X(ACCOUNT_MISMATCH, ACCESS_DENIED, "valid signature, but x-fc-account-id is not the key's")    \
    X(TOO_LARGE, INVALID_ARGUMENT, "past a FC_AUTH_*_MAX bound")

enum fc_auth_status {
#define FC_AUTH_STATUS_ENUM(name, fc_err, what) FC_AUTH_##name,
    FC_AUTH_STATUS_TABLE(FC_AUTH_STATUS_ENUM)
#undef FC_AUTH_STATUS_ENUM
        FC_AUTH_STATUS_COUNT
};
static_assert(FC_AUTH_OK == 0, "0 means valid");

/* One configured key. Strings are NUL-terminated and owned by the caller
 * (the config), which keeps them alive and unchanged while any call uses
 * the table. */
struct fc_auth_key {
    const char *access_key_id;
    const char *secret;
    const char *account_id; /* NULL or "": the key may act for any account */
};

/* The request to verify or sign. All slices are borrowed for the call.
 * From a parsed request: {r.method, r.method_len, r.target, r.target_len,
 * r.headers, r.headers_count}. The target is origin-form path[?query], raw
 * as received (percent-encoded). Header names compare ASCII
 * case-insensitively; values are used as given (the parser has trimmed OWS). */
struct fc_auth_request {
    const char *method;
    uint32_t method_len;
    uint32_t target_len;
    const char *target;
    const struct fc_http_header *headers;
    uint32_t headers_count;
};

/* Work space. Caller-owned, uninitialised is fine, reused across calls by one
 * thread at a time. Callers do not touch the fields; after a call only the
 * slices a result points at (see below) are meaningful. */
struct fc_auth_scratch {
    char _text[FC_AUTH_STRING_TO_SIGN_BYTES_MAX];
    char _decoded[FC_AUTH_STRING_TO_SIGN_BYTES_MAX];
    struct {
        uint32_t off, len, key_len;
    } _lines[FC_AUTH_QUERY_PARAMS_MAX];
    uint16_t _fc_headers[FC_AUTH_FC_HEADERS_MAX];
};

struct fc_auth_result {
    enum fc_auth_status status;
    /* The matched key (in the caller's table) once the AccessKeyID was found,
     * else NULL. On FC_AUTH_OK the caller takes the account from it. */
    const struct fc_auth_key *key;
    /* The argument of the FC error row's "%s": `message` for AccessDenied and
     * InvalidArgument, `key_id` for InvalidAccessKeyID, NULL for OK and
     * SignatureNotMatch (whose FC message is fixed). Points into this struct. */
    const char *fc_arg;
    /* The string to sign fcd computed, on FC_AUTH_SIGNATURE_MISMATCH only,
     * else NULL/0: for a debug log line that shows a client its
     * canonicalization bug. It contains no secret. Points into the scratch:
     * valid until the scratch is reused. */
    const char *string_to_sign;
    uint32_t string_to_sign_len;
    /* What was wrong, one sentence, NUL-terminated; "" on success. Never
     * contains the expected signature. */
    char message[FC_AUTH_MESSAGE_BYTES_MAX];
    /* The AccessKeyID the request named (percent-decoded for a signed URL),
     * NUL-terminated, cut at FC_AUTH_KEY_ID_BYTES_MAX (display only: the
     * lookup compares the whole ID). */
    char key_id[FC_AUTH_KEY_ID_BYTES_MAX + 1];
};

/* Verify req's signature against keys[0..keys_count) at wall-clock time
 * now_s (Unix seconds; passed in so tests drive time).
 *
 * The request carries either `Authorization: FC id:sig` (with Date or
 * x-fc-date), or, without Authorization, a signed URL: query parameters
 * x-fc-access-key-id, x-fc-expires, x-fc-signature (optionally
 * x-fc-security-token, signed like any other parameter). A signed URL is
 * verified on any path; whether a route accepts one is the caller's choice.
 *
 * Checks, in order: form (MISSING_HEADER, MALFORMED, BAD_DATE), key lookup
 * (UNKNOWN_KEY), time (DATE_SKEW: |Date - now| > FC_AUTH_DATE_SKEW_S;
 * EXPIRED: now > x-fc-expires), canonicalization (MALFORMED for bad
 * %-encoding or a repeated x-fc-* header, TOO_LARGE), signature
 * (SIGNATURE_MISMATCH, constant-time compare), then account: when the key
 * has an account_id and the request's x-fc-account-id is non-empty and
 * different, ACCOUNT_MISMATCH. The account is checked only after the
 * signature, so an unsigned request learns nothing about which account a
 * key belongs to. The Host header is not checked here.
 *
 * Returns the status (also in out->status): FC_AUTH_OK (0) or a failure; out
 * is always fully written. keys, req and scratch are borrowed for the call;
 * out->key points into keys, out->string_to_sign into scratch. Cost: one
 * HMAC-SHA256 over at most FC_AUTH_STRING_TO_SIGN_BYTES_MAX bytes, a linear
 * key scan, O(h^2) over the h <= FC_AUTH_FC_HEADERS_MAX x-fc-* headers and
 * O(q log q) over the q query lines (in-place heapsort: no qsort, which may
 * malloc). */
enum fc_auth_status fc_auth_verify(const struct fc_auth_request *req,
                                   const struct fc_auth_key *keys, uint32_t keys_count,
                                   int64_t now_s, struct fc_auth_scratch *scratch,
                                   struct fc_auth_result *out);

/* The FC error row a status maps to (FC_AUTH_STATUS_TABLE). The caller
 * renders it with fc_error_json(..., r->fc_arg) (no argument for
 * SignatureNotMatch). FC_AUTH_OK maps to FC_ERR_INTERNAL: not an error, and
 * a caller that renders it has a bug. */
enum fc_error fc_auth_status_error(enum fc_auth_status status);

/* Short static name of a status ("SIGNATURE_MISMATCH"), for logs and tests. */
const char *fc_auth_status_name(enum fc_auth_status status);

/* Sign req with (access_key_id, secret) using the same canonicalization as
 * fc_auth_verify in header mode: writes "FC <id>:<signature>" and a NUL into
 * out[0..out_cap). req must already carry every header it will be sent with
 * (Date or x-fc-date, Content-MD5/Content-Type if any, all x-fc-*); the
 * signer does not add any (see fc_auth_date_format for Date). Strings are
 * borrowed for the call; scratch as for fc_auth_verify (it keeps the string
 * to sign, which holds no secret).
 *
 * Returns the length written (without the NUL); -EINVAL when req has no
 * Date/x-fc-date, a repeated x-fc-* / Date / Content-* header, or bad
 * %-encoding in its target (fcd would refuse it); -E2BIG past a _MAX bound;
 * -ENOSPC when out_cap is too small (out then holds ""). */
int fc_auth_sign(const struct fc_auth_request *req, const char *access_key_id, const char *secret,
                 struct fc_auth_scratch *scratch, char *out, size_t out_cap);

/* Format Unix seconds as an RFC 1123 GMT date ("Mon, 02 Mar 2026 10:00:00
 * GMT") into out, NUL-terminated. Years 0..9999 only. Returns
 * FC_AUTH_DATE_LEN, or -ERANGE outside them (out then holds ""). */
int fc_auth_date_format(int64_t unix_s, char out[FC_AUTH_DATE_LEN + 1]);

/* Parse an IMF-fixdate (exactly FC_AUTH_DATE_LEN bytes, "GMT" zone, weekday
 * name checked for spelling but not against the date, as Go's net/http does).
 * Returns 0 and *unix_s, or -EINVAL. */
int fc_auth_date_parse(const char *s, size_t len, int64_t *unix_s);

#endif
