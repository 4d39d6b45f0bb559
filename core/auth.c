/* auth.c — FC 2.0 request signatures. See auth.h for the scheme and the
 * contract; this file only says how. */
#include "core/auth.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/assert.h"

#define FC_PREFIX "x-fc-"
#define FC_PREFIX_LEN 5u

/* ---- small helpers ------------------------------------------------------ */

static unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static bool name_is(const struct fc_http_header *h, const char *name, size_t len) {
    if (h->name_len != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (lower((unsigned char)h->name[i]) != (unsigned char)name[i])
            return false;
    return true;
}

static bool name_has_fc_prefix(const struct fc_http_header *h) {
    if (h->name_len < FC_PREFIX_LEN)
        return false;
    for (size_t i = 0; i < FC_PREFIX_LEN; i++)
        if (lower((unsigned char)h->name[i]) != (unsigned char)FC_PREFIX[i])
            return false;
    return true;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decode src[0..len) into dst (room for len bytes: decoding never
 * grows). '+' becomes ' ' when plus_is_space (query, as Go's url.ParseQuery
 * and the SDKs' encoders have it; not in paths). Returns the decoded length
 * or -EINVAL on a '%' not followed by two hex digits: accepting it literally
 * would make "%zz" and "%25zz" sign the same. */
static ssize_t pct_decode(char *dst, const char *src, size_t len, bool plus_is_space) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (len - i < 3)
                return -EINVAL;
            int hi = hexval((unsigned char)src[i + 1]), lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            dst[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            dst[o++] = (plus_is_space && c == '+') ? ' ' : (char)c;
        }
    }
    FC_ASSERT(o <= len);
    return (ssize_t)o;
}

/* A bounded appender. Past the end it sets `over` and writes nothing more:
 * the caller turns that into FC_AUTH_TOO_LARGE, never a shorter string. */
struct writer {
    char *buf;
    size_t len, cap;
    bool over;
};

static void put(struct writer *w, const void *p, size_t n) {
    if (w->over || n > w->cap - w->len) {
        w->over = true;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_c(struct writer *w, char c) {
    put(w, &c, 1);
}

static void put_header(struct writer *w, const struct fc_http_header *h) {
    if (h != NULL)
        put(w, h->value, h->value_len);
    put_c(w, '\n');
}

/* ---- query lines: JS Array.prototype.sort order ------------------------- */

/* Compare two UTF-8 strings in UTF-16 code-unit order (what fc2's
 * params.sort() does). Equal prefixes end on the same character boundary, so
 * the first differing bytes are both lead bytes or both continuation bytes of
 * same-length characters. Only one case differs from byte order: a 4-byte
 * character (lead F0..F4, a surrogate pair D800..DBFF in UTF-16) against a
 * 3-byte character in U+E000..U+FFFF (lead EE/EF): UTF-16 puts the former
 * first. Invalid UTF-8 (only reachable by %-encoding) falls back to bytes. */
static int js_cmp(const char *a, size_t alen, const char *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x == y)
            continue;
        if (x >= 0xF0 && x <= 0xF4 && (y == 0xEE || y == 0xEF))
            return -1;
        if (y >= 0xF0 && y <= 0xF4 && (x == 0xEE || x == 0xEF))
            return 1;
        return x < y ? -1 : 1;
    }
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

struct qlines {
    const char *base; /* scratch->_decoded */
    struct fc_auth_scratch *s;
    uint32_t count;
};

static int line_cmp(const struct qlines *q, uint32_t i, uint32_t j) {
    const char *b = q->base;
    return js_cmp(b + q->s->_lines[i].off, q->s->_lines[i].len, b + q->s->_lines[j].off,
                  q->s->_lines[j].len);
}

static void line_swap(struct qlines *q, uint32_t i, uint32_t j) {
    __typeof__(q->s->_lines[0]) t = q->s->_lines[i];
    q->s->_lines[i] = q->s->_lines[j];
    q->s->_lines[j] = t;
}

static void sift_down(struct qlines *q, uint32_t root, uint32_t end) {
    for (;;) { /* ends: root grows each round, bounded by end */
        uint32_t child = 2 * root + 1;
        if (child >= end)
            return;
        if (child + 1 < end && line_cmp(q, child, child + 1) < 0)
            child++;
        if (line_cmp(q, root, child) >= 0)
            return;
        line_swap(q, root, child);
        root = child;
    }
}

/* In-place heapsort: O(q log q), no allocation (glibc's qsort may malloc).
 * Not stable, which cannot matter: equal lines are identical bytes. */
static void lines_sort(struct qlines *q) {
    for (uint32_t i = q->count / 2; i-- > 0;)
        sift_down(q, i, q->count);
    for (uint32_t end = q->count; end > 1; end--) {
        line_swap(q, 0, end - 1);
        sift_down(q, 0, end - 1);
    }
}

/* Split and decode the raw query into scratch lines ("key=value" or "key").
 * Returns 0, -EINVAL (bad %-encoding) or -E2BIG (over FC_AUTH_QUERY_PARAMS_MAX
 * or the decoded buffer). */
static int query_parse(const char *query, size_t len, struct qlines *q) {
    struct fc_auth_scratch *s = q->s;
    size_t used = 0;
    q->base = s->_decoded;
    q->count = 0;
    for (size_t i = 0; i < len;) {
        const char *seg = query + i, *amp = memchr(seg, '&', len - i);
        size_t seg_len = amp ? (size_t)(amp - seg) : len - i;
        i += seg_len + 1;
        if (seg_len == 0)
            continue;
        if (q->count == FC_AUTH_QUERY_PARAMS_MAX || seg_len > sizeof(s->_decoded) - used)
            return -E2BIG;
        const char *eq = memchr(seg, '=', seg_len);
        size_t key_raw = eq ? (size_t)(eq - seg) : seg_len;
        ssize_t k = pct_decode(s->_decoded + used, seg, key_raw, true);
        if (k < 0)
            return (int)k;
        ssize_t v = 0;
        if (eq) {
            s->_decoded[used + (size_t)k] = '=';
            v = pct_decode(s->_decoded + used + (size_t)k + 1, eq + 1, seg_len - key_raw - 1, true);
            if (v < 0)
                return (int)v;
        }
        size_t line_len = (size_t)k + (eq ? 1 + (size_t)v : 0);
        FC_ASSERT(line_len <= seg_len);
        s->_lines[q->count].off = (uint32_t)used;
        s->_lines[q->count].len = (uint32_t)line_len;
        s->_lines[q->count].key_len = (uint32_t)k;
        q->count++;
        used += line_len;
    }
    return 0;
}

/* The index of the line whose decoded key is `key`, or -1; -2 when repeated. */
static int query_find(const struct qlines *q, const char *key) {
    size_t klen = strlen(key);
    int found = -1;
    for (uint32_t i = 0; i < q->count; i++) {
        if (q->s->_lines[i].key_len == klen &&
            memcmp(q->base + q->s->_lines[i].off, key, klen) == 0) {
            if (found >= 0)
                return -2;
            found = (int)i;
        }
    }
    return found;
}

/* Value of line i (after '='; empty for a bare key). */
static const char *line_value(const struct qlines *q, int i, size_t *len) {
    uint32_t kl = q->s->_lines[i].key_len, l = q->s->_lines[i].len;
    *len = l > kl ? l - kl - 1 : 0;
    return q->base + q->s->_lines[i].off + kl + (l > kl ? 1 : 0);
}

/* ---- headers ------------------------------------------------------------ */

/* The headers the signature reads; -EINVAL names a repeated one in *dup. */
struct signed_headers {
    const struct fc_http_header *authorization, *date, *x_fc_date, *content_md5, *content_type,
        *account_id;
    uint32_t fc_count;
};

static int headers_scan(const struct fc_auth_request *req, struct fc_auth_scratch *s,
                        struct signed_headers *sh, const char **dup) {
    static const struct {
        const char *name;
        size_t off;
    } singles[] = {
        {"authorization", offsetof(struct signed_headers, authorization)},
        {"date", offsetof(struct signed_headers, date)},
        {"x-fc-date", offsetof(struct signed_headers, x_fc_date)},
        {"content-md5", offsetof(struct signed_headers, content_md5)},
        {"content-type", offsetof(struct signed_headers, content_type)},
        {"x-fc-account-id", offsetof(struct signed_headers, account_id)},
    };
    memset(sh, 0, sizeof(*sh));
    for (uint32_t i = 0; i < req->headers_count; i++) {
        const struct fc_http_header *h = &req->headers[i];
        for (size_t k = 0; k < sizeof(singles) / sizeof(singles[0]); k++) {
            if (!name_is(h, singles[k].name, strlen(singles[k].name)))
                continue;
            const struct fc_http_header **slot =
                (const struct fc_http_header **)((char *)sh + singles[k].off);
            if (*slot != NULL) {
                *dup = singles[k].name;
                return -EINVAL;
            }
            *slot = h;
        }
        if (name_has_fc_prefix(h)) {
            if (sh->fc_count == FC_AUTH_FC_HEADERS_MAX)
                return -E2BIG;
            s->_fc_headers[sh->fc_count++] = (uint16_t)i;
        }
    }
    return 0;
}

/* <0, 0, >0 comparing lower-cased names of headers a and b. */
static int fc_name_cmp(const struct fc_http_header *a, const struct fc_http_header *b) {
    uint32_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    for (uint32_t i = 0; i < n; i++) {
        unsigned char x = lower((unsigned char)a->name[i]), y = lower((unsigned char)b->name[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a->name_len < b->name_len ? -1 : a->name_len > b->name_len ? 1 : 0;
}

/* Insertion sort of the x-fc-* header indices: h <= FC_AUTH_FC_HEADERS_MAX,
 * so O(h^2) stays under ~2000 short compares. Returns -EINVAL on a repeated
 * name (which value a client signed is ambiguous). */
static int fc_headers_sort(const struct fc_auth_request *req, struct fc_auth_scratch *s,
                           uint32_t n) {
    for (uint32_t i = 1; i < n; i++) {
        uint16_t x = s->_fc_headers[i];
        uint32_t j = i;
        while (j > 0 && fc_name_cmp(&req->headers[s->_fc_headers[j - 1]], &req->headers[x]) > 0) {
            s->_fc_headers[j] = s->_fc_headers[j - 1];
            j--;
        }
        s->_fc_headers[j] = x;
    }
    for (uint32_t i = 1; i < n; i++)
        if (fc_name_cmp(&req->headers[s->_fc_headers[i - 1]], &req->headers[s->_fc_headers[i]]) ==
            0)
            return -EINVAL;
    return 0;
}

/* ---- the string to sign ------------------------------------------------- */

/* Raw target is an HTTP-trigger path: the exact rule of fc_route_match. */
static bool target_is_trigger(const char *t, size_t len) {
    static const char *const prefixes[] = {"/2016-08-15/proxy/", "/2021-04-06/proxy/"};
    for (size_t i = 0; i < 2; i++) {
        size_t pl = strlen(prefixes[i]);
        if (len >= pl && memcmp(t, prefixes[i], pl) == 0)
            return true;
    }
    return false;
}

enum sts_mode { STS_HEADER, STS_SIGNED_URL };

/* Build the string to sign into scratch->_text. `date` is the Date line.
 * When `with_query`, q must already be parsed; `skip_signature` (signed URL)
 * leaves out the x-fc-signature line (the caller made sure there is one).
 * Returns its length, -EINVAL (bad %-encoding, repeated x-fc-* header) or
 * -E2BIG. */
static ssize_t sts_build(const struct fc_auth_request *req, const struct signed_headers *sh,
                         const char *date, size_t date_len, struct qlines *q, bool with_query,
                         bool skip_signature, struct fc_auth_scratch *s) {
    struct writer w = {s->_text, 0, sizeof(s->_text), false};
    int rc = fc_headers_sort(req, s, sh->fc_count);
    if (rc < 0)
        return rc;
    put(&w, req->method, req->method_len);
    put_c(&w, '\n');
    put_header(&w, sh->content_md5);
    put_header(&w, sh->content_type);
    put(&w, date, date_len);
    put_c(&w, '\n');
    for (uint32_t i = 0; i < sh->fc_count; i++) {
        const struct fc_http_header *h = &req->headers[s->_fc_headers[i]];
        for (uint32_t k = 0; k < h->name_len; k++)
            put_c(&w, (char)lower((unsigned char)h->name[k]));
        put_c(&w, ':');
        put_header(&w, h);
    }
    const char *qm = memchr(req->target, '?', req->target_len);
    size_t path_len = qm ? (size_t)(qm - req->target) : req->target_len;
    if (w.over || path_len > w.cap - w.len)
        return -E2BIG;
    ssize_t d = pct_decode(w.buf + w.len, req->target, path_len, false);
    if (d < 0)
        return d;
    w.len += (size_t)d;
    if (with_query) {
        lines_sort(q); /* indices change: the signature line is found by its key */
        put_c(&w, '\n');
        bool first = true;
        for (uint32_t i = 0; i < q->count; i++) {
            const char *p = q->base + s->_lines[i].off;
            if (skip_signature && s->_lines[i].key_len == 14 &&
                memcmp(p, "x-fc-signature", 14) == 0)
                continue;
            if (!first)
                put_c(&w, '\n');
            put(&w, p, s->_lines[i].len);
            first = false;
        }
    }
    if (w.over)
        return -E2BIG;
    FC_ASSERT(w.len <= sizeof(s->_text));
    return (ssize_t)w.len;
}

/* base64(HMAC-SHA256(secret, text)) into out (FC_AUTH_SIGNATURE_LEN + NUL). */
static void hmac_b64(const char *secret, const char *text, size_t len,
                     char out[FC_AUTH_SIGNATURE_LEN + 1]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    size_t slen = strlen(secret);
    FC_ASSERT(slen <= INT32_MAX);
    unsigned char *r =
        HMAC(EVP_sha256(), secret, (int)slen, (const unsigned char *)text, len, md, &md_len);
    FC_ASSERT(r != NULL && md_len == 32); /* only fails on allocation inside libcrypto */
    int n = EVP_EncodeBlock((unsigned char *)out, md, (int)md_len);
    FC_ASSERT(n == (int)FC_AUTH_SIGNATURE_LEN);
    OPENSSL_cleanse(md, sizeof(md));
}

/* ---- verify ------------------------------------------------------------- */

static enum fc_auth_status fail(struct fc_auth_result *out, enum fc_auth_status st, const char *fmt,
                                ...) __attribute__((format(printf, 3, 4)));

static enum fc_auth_status fail(struct fc_auth_result *out, enum fc_auth_status st, const char *fmt,
                                ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
    out->status = st;
    enum fc_error e = fc_auth_status_error(st);
    out->fc_arg = e == FC_ERR_INVALID_ACCESS_KEY_ID ? out->key_id
                  : e == FC_ERR_SIGNATURE_NOT_MATCH ? NULL
                                                    : out->message;
    return st;
}

static void set_key_id(struct fc_auth_result *out, const char *id, size_t len) {
    size_t n = len < FC_AUTH_KEY_ID_BYTES_MAX ? len : FC_AUTH_KEY_ID_BYTES_MAX;
    memcpy(out->key_id, id, n);
    out->key_id[n] = '\0';
}

static const struct fc_auth_key *key_find(const struct fc_auth_key *keys, uint32_t n,
                                          const char *id, size_t len) {
    for (uint32_t i = 0; i < n; i++) {
        FC_ASSERT(keys[i].access_key_id != NULL && keys[i].secret != NULL);
        if (strlen(keys[i].access_key_id) == len && memcmp(keys[i].access_key_id, id, len) == 0)
            return &keys[i];
    }
    return NULL;
}

/* What the two modes extract before the common part. */
struct claim {
    const char *key_id, *sig, *date;
    size_t key_id_len, sig_len, date_len;
    bool with_query;
    bool skip_signature; /* signed URL */
};

/* Authorization-header mode: "FC id:sig" and the Date (or x-fc-date). */
static enum fc_auth_status claim_header(const struct fc_auth_request *req,
                                        const struct signed_headers *sh, int64_t now_s,
                                        struct claim *c, struct fc_auth_result *out) {
    const struct fc_http_header *a = sh->authorization;
    const char *colon = a->value_len > 3 ? memchr(a->value + 3, ':', a->value_len - 3) : NULL;
    if (a->value_len < 3 || memcmp(a->value, "FC ", 3) != 0 || colon == NULL ||
        colon == a->value + 3)
        return fail(out, FC_AUTH_MALFORMED,
                    "Authorization header is not of the form 'FC <AccessKeyID>:<Signature>'");
    c->key_id = a->value + 3;
    c->key_id_len = (size_t)(colon - c->key_id);
    c->sig = colon + 1;
    c->sig_len = a->value_len - 3 - c->key_id_len - 1;
    const struct fc_http_header *d =
        sh->x_fc_date != NULL && sh->x_fc_date->value_len > 0 ? sh->x_fc_date : sh->date;
    const char *dname = d == sh->x_fc_date ? "x-fc-date" : "Date";
    if (d == NULL)
        return fail(out, FC_AUTH_MISSING_HEADER, "required HTTP header Date was not specified");
    int64_t t;
    if (fc_auth_date_parse(d->value, d->value_len, &t) < 0)
        return fail(out, FC_AUTH_BAD_DATE,
                    "%s header is not an RFC 1123 GMT date like 'Mon, 02 Mar 2026 10:00:00 GMT'",
                    dname);
    c->date = d->value;
    c->date_len = d->value_len;
    c->with_query = target_is_trigger(req->target, req->target_len);
    c->skip_signature = false;
    set_key_id(out, c->key_id, c->key_id_len);
    if (t - now_s > FC_AUTH_DATE_SKEW_S || now_s - t > FC_AUTH_DATE_SKEW_S)
        return fail(out, FC_AUTH_DATE_SKEW,
                    "request date is too far from server time (%s is %lld s %s it; at most %d s "
                    "allowed)",
                    dname, (long long)(t > now_s ? t - now_s : now_s - t),
                    t > now_s ? "ahead of" : "behind", FC_AUTH_DATE_SKEW_S);
    return FC_AUTH_OK;
}

/* Signed-URL mode: x-fc-access-key-id, x-fc-expires, x-fc-signature. */
static enum fc_auth_status claim_url(struct qlines *q, int sig_idx, int64_t now_s, struct claim *c,
                                     struct fc_auth_result *out) {
    static const char *const names[] = {"x-fc-access-key-id", "x-fc-expires", "x-fc-signature"};
    int idx[3];
    for (int i = 0; i < 3; i++) {
        idx[i] = i == 2 ? sig_idx : query_find(q, names[i]);
        if (idx[i] == -1)
            return fail(out, FC_AUTH_MALFORMED, "signed URL lacks the %s query parameter",
                        names[i]);
        if (idx[i] == -2)
            return fail(out, FC_AUTH_MALFORMED, "signed URL repeats the %s query parameter",
                        names[i]);
    }
    c->key_id = line_value(q, idx[0], &c->key_id_len);
    c->date = line_value(q, idx[1], &c->date_len);
    c->sig = line_value(q, idx[2], &c->sig_len);
    int64_t exp = 0;
    bool ok = c->date_len > 0 && c->date_len <= 18;
    for (size_t i = 0; ok && i < c->date_len; i++) {
        ok = c->date[i] >= '0' && c->date[i] <= '9';
        exp = exp * 10 + (c->date[i] - '0');
    }
    if (!ok)
        return fail(out, FC_AUTH_MALFORMED, "x-fc-expires is not a Unix time in seconds");
    c->with_query = true;
    c->skip_signature = true;
    set_key_id(out, c->key_id, c->key_id_len);
    if (now_s > exp)
        return fail(out, FC_AUTH_EXPIRED, "signed URL expired %lld s ago (x-fc-expires %lld)",
                    (long long)(now_s - exp), (long long)exp);
    return FC_AUTH_OK;
}

/* Choose the mode and fill *c. Parses the query when it is signed. */
static enum fc_auth_status claim_get(const struct fc_auth_request *req,
                                     const struct signed_headers *sh, int64_t now_s,
                                     struct qlines *q, struct claim *c,
                                     struct fc_auth_result *out) {
    const char *qm = memchr(req->target, '?', req->target_len);
    const char *query = qm ? qm + 1 : req->target + req->target_len;
    size_t query_len = (size_t)(req->target + req->target_len - query);
    bool header_mode = sh->authorization != NULL;
    q->count = 0;
    if (!header_mode || target_is_trigger(req->target, req->target_len)) {
        int rc = query_parse(query, query_len, q);
        if (rc == -E2BIG)
            return fail(out, FC_AUTH_TOO_LARGE,
                        "query too large to verify (at most %u parameters, %u bytes)",
                        FC_AUTH_QUERY_PARAMS_MAX, FC_AUTH_STRING_TO_SIGN_BYTES_MAX);
        if (rc < 0)
            return fail(out, FC_AUTH_MALFORMED, "malformed %%-encoding in the query string");
    }
    if (header_mode)
        return claim_header(req, sh, now_s, c, out);
    int sig_idx = query_find(q, "x-fc-signature");
    if (sig_idx == -1)
        return fail(out, FC_AUTH_MISSING_HEADER,
                    "required HTTP header Authorization was not specified");
    return claim_url(q, sig_idx, now_s, c, out);
}

/* The signature and account checks, once the claim is known. */
static enum fc_auth_status check(const struct fc_auth_request *req, const struct signed_headers *sh,
                                 struct qlines *q, const struct claim *c, struct fc_auth_scratch *s,
                                 struct fc_auth_result *out) {
    ssize_t len = sts_build(req, sh, c->date, c->date_len, q, c->with_query, c->skip_signature, s);
    if (len == -E2BIG)
        return fail(out, FC_AUTH_TOO_LARGE,
                    "request too large to verify its signature (string to sign over %u bytes)",
                    FC_AUTH_STRING_TO_SIGN_BYTES_MAX);
    if (len < 0)
        return fail(out, FC_AUTH_MALFORMED,
                    "malformed %%-encoding in the request path, or an x-fc-* header repeated");
    char expected[FC_AUTH_SIGNATURE_LEN + 1];
    hmac_b64(out->key->secret, s->_text, (size_t)len, expected);
    /* Lengths are public (always 44 when well-formed); the bytes are compared
     * in constant time so the response time says nothing about a prefix. */
    bool equal = c->sig_len == FC_AUTH_SIGNATURE_LEN &&
                 CRYPTO_memcmp(expected, c->sig, FC_AUTH_SIGNATURE_LEN) == 0;
    OPENSSL_cleanse(expected, sizeof(expected));
    if (!equal) {
        out->string_to_sign = s->_text;
        out->string_to_sign_len = (uint32_t)len;
        return fail(out, FC_AUTH_SIGNATURE_MISMATCH,
                    "the request signature does not match (string to sign: %u bytes)",
                    (unsigned)len);
    }
    const char *acct = out->key->account_id;
    const struct fc_http_header *h = sh->account_id;
    if (acct != NULL && acct[0] != '\0' && h != NULL && h->value_len > 0 &&
        (h->value_len != strlen(acct) || memcmp(h->value, acct, h->value_len) != 0))
        return fail(out, FC_AUTH_ACCOUNT_MISMATCH,
                    "access key '%s' does not belong to account '%.*s'", out->key_id,
                    (int)(h->value_len < 64 ? h->value_len : 64), h->value);
    return FC_AUTH_OK;
}

enum fc_auth_status fc_auth_verify(const struct fc_auth_request *req,
                                   const struct fc_auth_key *keys, uint32_t keys_count,
                                   int64_t now_s, struct fc_auth_scratch *scratch,
                                   struct fc_auth_result *out) {
    FC_ASSERT(req != NULL && scratch != NULL && out != NULL);
    FC_ASSERT(keys != NULL || keys_count == 0);
    memset(out, 0, offsetof(struct fc_auth_result, message) + 1);
    out->key_id[0] = '\0';
    struct signed_headers sh;
    const char *dup = NULL;
    int rc = headers_scan(req, scratch, &sh, &dup);
    if (rc == -E2BIG)
        return fail(out, FC_AUTH_TOO_LARGE, "too many x-fc-* headers (at most %u)",
                    FC_AUTH_FC_HEADERS_MAX);
    if (rc < 0)
        return fail(out, FC_AUTH_MALFORMED, "the %s header appears more than once", dup);
    struct qlines q = {scratch->_decoded, scratch, 0};
    struct claim c = {0};
    enum fc_auth_status st = claim_get(req, &sh, now_s, &q, &c, out);
    /* The key is looked up even when the time check failed, so that a
     * stale request with an unknown key is reported as the unknown key. */
    if (st != FC_AUTH_OK && st != FC_AUTH_DATE_SKEW && st != FC_AUTH_EXPIRED)
        return st;
    out->key = key_find(keys, keys_count, c.key_id, c.key_id_len);
    if (out->key == NULL)
        return fail(out, FC_AUTH_UNKNOWN_KEY, "invalid access key ID '%s'", out->key_id);
    if (st != FC_AUTH_OK)
        return st;
    st = check(req, &sh, &q, &c, scratch, out);
    FC_ASSERT(st != FC_AUTH_OK || out->message[0] == '\0');
    return st;
}

/* ---- status table ------------------------------------------------------- */

enum fc_error fc_auth_status_error(enum fc_auth_status status) {
    static const enum fc_error map[] = {
#define FC_AUTH_STATUS_MAP(name, fc_err, what) FC_ERR_##fc_err,
        FC_AUTH_STATUS_TABLE(FC_AUTH_STATUS_MAP)
#undef FC_AUTH_STATUS_MAP
    };
    FC_ASSERT((unsigned)status < FC_AUTH_STATUS_COUNT);
    return map[status];
}

const char *fc_auth_status_name(enum fc_auth_status status) {
    static const char *const names[] = {
#define FC_AUTH_STATUS_NAME(name, fc_err, what) #name,
        FC_AUTH_STATUS_TABLE(FC_AUTH_STATUS_NAME)
#undef FC_AUTH_STATUS_NAME
    };
    return (unsigned)status < FC_AUTH_STATUS_COUNT ? names[status] : "?";
}

/* ---- sign --------------------------------------------------------------- */

int fc_auth_sign(const struct fc_auth_request *req, const char *access_key_id, const char *secret,
                 struct fc_auth_scratch *scratch, char *out, size_t out_cap) {
    FC_ASSERT(req != NULL && access_key_id != NULL && secret != NULL && scratch != NULL);
    FC_ASSERT(out != NULL || out_cap == 0);
    if (out_cap > 0)
        out[0] = '\0';
    struct signed_headers sh;
    const char *dup = NULL;
    int rc = headers_scan(req, scratch, &sh, &dup);
    if (rc < 0)
        return rc;
    const struct fc_http_header *d =
        sh.x_fc_date != NULL && sh.x_fc_date->value_len > 0 ? sh.x_fc_date : sh.date;
    if (d == NULL)
        return -EINVAL;
    struct qlines q = {scratch->_decoded, scratch, 0};
    bool trigger = target_is_trigger(req->target, req->target_len);
    if (trigger) {
        const char *qm = memchr(req->target, '?', req->target_len);
        const char *query = qm ? qm + 1 : req->target + req->target_len;
        rc = query_parse(query, (size_t)(req->target + req->target_len - query), &q);
        if (rc < 0)
            return rc;
    }
    ssize_t len = sts_build(req, &sh, d->value, d->value_len, &q, trigger, false, scratch);
    if (len < 0)
        return (int)len;
    size_t id_len = strlen(access_key_id), total = 3 + id_len + 1 + FC_AUTH_SIGNATURE_LEN;
    if (total + 1 > out_cap)
        return -ENOSPC;
    char sig[FC_AUTH_SIGNATURE_LEN + 1];
    hmac_b64(secret, scratch->_text, (size_t)len, sig);
    int n = snprintf(out, out_cap, "FC %s:%s", access_key_id, sig);
    OPENSSL_cleanse(sig, sizeof(sig));
    FC_ASSERT(n >= 0 && (size_t)n == total);
    return n;
}

/* ---- dates -------------------------------------------------------------- */

static const char wdays[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"}; /* 1970-01-01 */
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil; exact for every year here). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int num(const char *s, size_t n) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int fc_auth_date_parse(const char *s, size_t len, int64_t *unix_s) {
    /* "Sun, 06 Nov 1994 08:49:37 GMT"
     *  0123456789012345678901234567 8 */
    if (len != FC_AUTH_DATE_LEN || memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
        return -EINVAL;
    bool wd = false;
    for (int i = 0; i < 7; i++)
        wd |= memcmp(s, wdays[i], 3) == 0;
    int mon = -1;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 8, months[i], 3) == 0)
            mon = i;
    int day = num(s + 5, 2), year = num(s + 12, 4);
    int hh = num(s + 17, 2), mm = num(s + 20, 2), ss = num(s + 23, 2);
    if (!wd || mon < 0 || day < 1 || day > 31 || year < 0 || hh < 0 || hh > 23 || mm < 0 ||
        mm > 59 || ss < 0 || ss > 60)
        return -EINVAL;
    *unix_s =
        days_from_civil(year, (unsigned)mon + 1, (unsigned)day) * 86400 + hh * 3600 + mm * 60 + ss;
    return 0;
}

int fc_auth_date_format(int64_t unix_s, char out[FC_AUTH_DATE_LEN + 1]) {
    out[0] = '\0';
    /* 0000-01-01 .. 9999-12-31T23:59:59 */
    if (unix_s < -62167219200LL || unix_s > 253402300799LL)
        return -ERANGE;
    int64_t days = unix_s >= 0 ? unix_s / 86400 : (unix_s - 86399) / 86400;
    int64_t secs = unix_s - days * 86400;
    /* civil_from_days (Hinnant) */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    int wd = (int)(((days % 7) + 7) % 7);
    int n = snprintf(out, FC_AUTH_DATE_LEN + 1, "%s, %02u %s %04lld %02d:%02d:%02d GMT", wdays[wd],
                     d, months[m - 1], (long long)y, (int)(secs / 3600), (int)(secs / 60 % 60),
                     (int)(secs % 60));
    FC_ASSERT(n == (int)FC_AUTH_DATE_LEN);
    return n;
}
