/* test_http.c — io/http: request head parser, chunked decoder, reasons.
 *
 * Every parse reads a guarded buffer (fc_test_guarded) that ends right before
 * a PROT_NONE page, so reading one byte past `len` kills the test. Results of
 * incremental parses are compared as offsets from the buffer start, because
 * each prefix lives in its own guarded copy. */
#include "io/http.h"
#include "tests/unit/test.h"

#include <errno.h>
#include <stdint.h>

#define S(lit) lit, sizeof(lit) - 1
#define HDR_CAP 32

static const struct fc_http_limits dflt = {8192, HDR_CAP};

/* ---- helpers ------------------------------------------------------------ */

struct parsed {
    char *buf;
    size_t len;
    ssize_t rc;
    struct fc_http_req req;
    struct fc_http_header hdr[HDR_CAP];
};

/* Parse s[0..len) from scratch in a guarded copy. Free with parsed_free. */
static void parse_lim(struct parsed *p, const char *s, size_t len,
                      const struct fc_http_limits *lim) {
    memset(p, 0, sizeof(*p));
    p->buf = fc_test_guarded(s, len);
    p->len = len;
    p->req.headers = p->hdr;
    p->req.headers_cap = HDR_CAP;
    p->rc = fc_http_parse_request(p->buf, len, 0, lim, &p->req);
    FC_CHECK(p->rc >= 0 || p->rc == -EAGAIN || p->req.error != NULL);
}

static void parse(struct parsed *p, const char *s, size_t len) {
    parse_lim(p, s, len, &dflt);
}

static void parsed_free(struct parsed *p) {
    fc_test_guarded_free(p->buf, p->len);
}

/* A parse result with pointers turned into offsets, to compare parses made
 * on different copies of the same bytes. */
struct snap {
    ssize_t rc;
    const char *error;
    long method, method_len, target, target_len;
    int method_id, minor, keep_alive, chunked, expect, has_cl;
    uint64_t cl;
    uint32_t count;
    long h[HDR_CAP][4];
};

static void snap_take(struct snap *s, const char *base, ssize_t rc, const struct fc_http_req *r) {
    memset(s, 0, sizeof(*s));
    s->rc = rc;
    if (rc < 0) {
        s->error = rc == -EAGAIN ? NULL : r->error;
        return;
    }
    s->method = r->method - base;
    s->method_len = r->method_len;
    s->target = r->target - base;
    s->target_len = r->target_len;
    s->method_id = r->method_id;
    s->minor = r->minor_version;
    s->keep_alive = r->keep_alive;
    s->chunked = r->chunked;
    s->expect = r->expect_continue;
    s->has_cl = r->has_content_length;
    s->cl = r->content_length;
    s->count = r->headers_count;
    for (uint32_t i = 0; i < r->headers_count && i < HDR_CAP; i++) {
        s->h[i][0] = r->headers[i].name - base;
        s->h[i][1] = r->headers[i].name_len;
        s->h[i][2] = r->headers[i].value - base;
        s->h[i][3] = r->headers[i].value_len;
    }
}

static int snap_equal(const struct snap *a, const struct snap *b) {
    return memcmp(a, b, sizeof(*a)) == 0;
}

/* Parse s[0..len) fed in pieces: piece i adds steps(i) bytes (cycling
 * through steps[0..nsteps)), each prefix in its own guarded copy, passing
 * prev_len, until an answer or the end. */
static void parse_pieces(struct snap *out, const char *s, size_t len,
                         const struct fc_http_limits *lim, const size_t *steps, size_t nsteps) {
    size_t prev = 0, n = 0, i = 0;
    for (;;) {
        n += steps[i++ % nsteps];
        if (n > len)
            n = len;
        char *b = fc_test_guarded(s, n);
        struct fc_http_header hdr[HDR_CAP];
        struct fc_http_req req = {.headers = hdr, .headers_cap = HDR_CAP};
        ssize_t rc = fc_http_parse_request(b, n, prev, lim, &req);
        snap_take(out, b, rc, &req);
        fc_test_guarded_free(b, n);
        if (rc != -EAGAIN || n == len)
            return;
        prev = n;
    }
}

static void snap_whole(struct snap *out, const char *s, size_t len,
                       const struct fc_http_limits *lim) {
    struct parsed p;
    parse_lim(&p, s, len, lim);
    snap_take(out, p.buf, p.rc, &p.req);
    parsed_free(&p);
}

/* Decode body[0..len) as chunked in pieces of the given sizes (cycling), each
 * piece in a guarded copy. Collects the output in out (>= len bytes); stores
 * the decoded count in *out_len and the total in *total. Returns the final
 * result; for a completed body, the count of input bytes after it. */
static ssize_t decode_pieces(const char *body, size_t len, const size_t *steps, size_t nsteps,
                             uint64_t max, char *out, size_t *out_len, uint64_t *total) {
    struct fc_http_chunked dec = {0};
    size_t off = 0, i = 0;
    *out_len = 0;
    *total = 0;
    ssize_t rc = -EAGAIN;
    while (off < len && rc == -EAGAIN) {
        size_t n = steps[i++ % nsteps];
        if (n > len - off)
            n = len - off;
        char *b = fc_test_guarded(body + off, n);
        size_t got = n;
        rc = fc_http_chunked_decode(&dec, b, &got, total, max);
        FC_CHECK(got <= n);
        memcpy(out + *out_len, b, got);
        *out_len += got;
        fc_test_guarded_free(b, n);
        off += n;
        if (rc >= 0) {
            FC_CHECK((size_t)rc <= n);
            rc += (ssize_t)(len - off);
        }
    }
    return rc;
}

/* Decode whole, in a guarded copy. */
static ssize_t decode_whole(const char *body, size_t len, uint64_t max, char *out, size_t *out_len,
                            uint64_t *total) {
    size_t step = len ? len : 1;
    return decode_pieces(body, len, &step, 1, max, out, out_len, total);
}

/* ---- request heads ------------------------------------------------------ */

FC_TEST(http_simple_get) {
    struct parsed p;
    parse(&p, S("GET /2016-08-15/proxy/s/f/?a=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    FC_CHECK_INT(p.rc, p.len);
    FC_CHECK_SLICE(p.req.method, p.req.method_len, "GET");
    FC_CHECK_INT(p.req.method_id, FC_HTTP_GET);
    FC_CHECK_SLICE(p.req.target, p.req.target_len, "/2016-08-15/proxy/s/f/?a=1");
    FC_CHECK_INT(p.req.minor_version, 1);
    FC_CHECK(p.req.keep_alive && !p.req.chunked && !p.req.has_content_length);
    FC_CHECK(!p.req.expect_continue && p.req.error == NULL);
    FC_CHECK_INT(p.req.headers_count, 1);
    FC_CHECK_SLICE(p.req.headers[0].name, p.req.headers[0].name_len, "Host");
    FC_CHECK_SLICE(p.req.headers[0].value, p.req.headers[0].value_len, "localhost");
    parsed_free(&p);

    parse(&p, S("GET / HTTP/1.1\r\n\r\n")); /* no headers at all */
    FC_CHECK_INT(p.rc, p.len);
    FC_CHECK_INT(p.req.headers_count, 0);
    parsed_free(&p);
}

FC_TEST(http_post_content_length) {
    static const char req[] = "POST /invoke HTTP/1.1\r\nContent-Length: 11\r\n"
                              "Content-Type: application/octet-stream\r\n\r\nhello world";
    struct parsed p;
    parse(&p, S(req));
    FC_CHECK_INT(p.rc, sizeof(req) - 1 - 11); /* the body starts at rc */
    FC_CHECK_INT(p.req.method_id, FC_HTTP_POST);
    FC_CHECK(p.req.has_content_length);
    FC_CHECK_INT(p.req.content_length, 11);
    FC_CHECK_SLICE(p.buf + p.rc, p.req.content_length, "hello world");
    parsed_free(&p);

    /* identical repeats, as lines or as a list, fold into one (RFC 9110 §8.6) */
    parse(&p, S("PUT / HTTP/1.1\r\nContent-Length: 007\r\ncontent-length: 7, 7\r\n\r\n"));
    FC_CHECK_INT(p.rc, p.len);
    FC_CHECK_INT(p.req.content_length, 7);
    parsed_free(&p);

    parse(&p, S("PUT / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n"));
    FC_CHECK_INT(p.rc, p.len);
    FC_CHECK(p.req.content_length == UINT64_MAX);
    parsed_free(&p);
}

FC_TEST(http_keep_alive_rules) {
    static const struct {
        const char *req;
        int keep_alive;
    } rows[] = {
        {"GET / HTTP/1.1\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keepalive\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nX-Connection: close\r\n\r\n", 1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct parsed p;
        parse(&p, rows[i].req, strlen(rows[i].req));
        if (p.rc != (ssize_t)p.len || p.req.keep_alive != rows[i].keep_alive)
            fprintf(stderr, "# row %zu: %s\n", i, rows[i].req);
        FC_CHECK_INT(p.rc, p.len);
        FC_CHECK_INT(p.req.keep_alive, rows[i].keep_alive);
        parsed_free(&p);
    }
}

FC_TEST(http_connection_list) {
    static const char *const closing[] = {
        "Connection: Upgrade, close",
        "Connection: close,Upgrade",
        "Connection: ,, CLOSE ,",
        "Connection: te,\tclose\t",
        "Connection: foo\r\nConnection: Close",
    };
    for (size_t i = 0; i < sizeof(closing) / sizeof(closing[0]); i++) {
        char req[256];
        int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n%s\r\n\r\n", closing[i]);
        struct parsed p;
        parse(&p, req, (size_t)n);
        if (p.rc != n || p.req.keep_alive)
            fprintf(stderr, "# row %zu: %s\n", i, closing[i]);
        FC_CHECK_INT(p.rc, n);
        FC_CHECK(!p.req.keep_alive);
        parsed_free(&p);
    }
}

FC_TEST(http_case_insensitive_names) {
    struct parsed p;
    parse(&p, S("POST / HTTP/1.1\r\ncOnTeNt-LeNgTh: 3\r\nEXPECT: 100-Continue\r\n"
                "CONNECTION: CLOSE\r\nx-fc-request-id: abc\r\n\r\n"));
    FC_CHECK_INT(p.rc, p.len);
    FC_CHECK(p.req.has_content_length && p.req.content_length == 3);
    FC_CHECK(p.req.expect_continue && !p.req.keep_alive);
    const struct fc_http_header *h = fc_http_header_find(&p.req, S("X-FC-Request-Id"));
    FC_CHECK(h != NULL);
    FC_CHECK_SLICE(h->value, h->value_len, "abc");
    FC_CHECK(fc_http_header_find(&p.req, S("content-length")) == &p.req.headers[0]);
    FC_CHECK(fc_http_header_find(&p.req, S("x-fc-request")) == NULL);
    FC_CHECK(fc_http_header_find(&p.req, S("x-fc-request-idx")) == NULL);
    parsed_free(&p);

    /* Expect on HTTP/1.0 is ignored (RFC 9110 §10.1.1) */
    parse(&p, S("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"));
    FC_CHECK_INT(p.rc, p.len);
    FC_CHECK(!p.req.expect_continue);
    parsed_free(&p);

    /* methods are case-sensitive: "get" is some other method */
    parse(&p, S("get / HTTP/1.1\r\n\r\n"));
    FC_CHECK_INT(p.rc, p.len);
    FC_CHECK_INT(p.req.method_id, FC_HTTP_OTHER);
    parsed_free(&p);
}

FC_TEST(http_ows_stripped) {
    struct parsed p;
    parse(&p, S("GET / HTTP/1.1\r\nA:b\r\nB: \t b c \t \r\nC:\r\nD:   \r\nE:\x80\xff\r\n\r\n"));
    FC_CHECK_INT(p.rc, p.len);
    FC_CHECK_INT(p.req.headers_count, 5);
    FC_CHECK_SLICE(p.req.headers[0].value, p.req.headers[0].value_len, "b");
    FC_CHECK_SLICE(p.req.headers[1].value, p.req.headers[1].value_len, "b c");
    FC_CHECK_INT(p.req.headers[2].value_len, 0);
    FC_CHECK_INT(p.req.headers[3].value_len, 0);
    FC_CHECK_SLICE(p.req.headers[4].value, p.req.headers[4].value_len, "\x80\xff"); /* obs-text */
    FC_CHECK_SLICE(p.req.headers[1].name, p.req.headers[1].name_len, "B");
    parsed_free(&p);
}

FC_TEST(http_method_ids) {
    static const struct {
        const char *m;
        enum fc_http_method id;
    } rows[] = {
        {"GET", FC_HTTP_GET},         {"HEAD", FC_HTTP_HEAD},     {"POST", FC_HTTP_POST},
        {"PUT", FC_HTTP_PUT},         {"DELETE", FC_HTTP_DELETE}, {"PATCH", FC_HTTP_PATCH},
        {"OPTIONS", FC_HTTP_OPTIONS}, {"CONNECT", FC_HTTP_OTHER}, {"TRACE", FC_HTTP_OTHER},
        {"GETS", FC_HTTP_OTHER},      {"PUR", FC_HTTP_OTHER},     {"M-SEARCH", FC_HTTP_OTHER},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char req[64];
        int n = snprintf(req, sizeof(req), "%s / HTTP/1.1\r\n\r\n", rows[i].m);
        struct parsed p;
        parse(&p, req, (size_t)n);
        FC_CHECK_INT(p.rc, n);
        FC_CHECK_SLICE(p.req.method, p.req.method_len, rows[i].m);
        FC_CHECK_INT(p.req.method_id, rows[i].id);
        parsed_free(&p);
    }
}

FC_TEST(http_target_forms) {
    struct parsed p;
    parse(&p, S("OPTIONS * HTTP/1.1\r\n\r\n"));
    FC_CHECK_INT(p.rc, p.len);
    FC_CHECK_SLICE(p.req.target, p.req.target_len, "*");
    parsed_free(&p);

    parse(&p, S("GET http://fc.example:9000/a/b?c=%20#x HTTP/1.1\r\n\r\n"));
    FC_CHECK_INT(p.rc, p.len);
    FC_CHECK_SLICE(p.req.target, p.req.target_len, "http://fc.example:9000/a/b?c=%20#x");
    parsed_free(&p);

    parse(&p, S("GET /~a!$&'()*+,;=:@[]{}|^`\"<>\\ HTTP/1.1\r\n\r\n")); /* visible ASCII */
    FC_CHECK_INT(p.rc, p.len);
    parsed_free(&p);
}

FC_TEST(http_leading_empty_lines) {
    struct parsed p;
    parse(&p, S("\r\n\r\nGET / HTTP/1.1\r\n\r\n"));
    FC_CHECK_INT(p.rc, p.len); /* counted in the return value */
    FC_CHECK_INT(p.req.method - p.buf, 4);
    parsed_free(&p);

    parse(&p, S("\r\n\r\n\r"));
    FC_CHECK_INT(p.rc, -EAGAIN);
    parsed_free(&p);
}

FC_TEST(http_pipelined) {
    static const char in[] = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                             "GET /b HTTP/1.1\r\n\r\n"
                             "GET /c HTTP/1.0\r\n\r\n"
                             "GET /d HT";
    const char *const targets[] = {"/a", "/b", "/c"};
    char *buf = fc_test_guarded(in, sizeof(in) - 1);
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        struct fc_http_header hdr[HDR_CAP];
        struct fc_http_req req = {.headers = hdr, .headers_cap = HDR_CAP};
        ssize_t rc = fc_http_parse_request(buf + off, sizeof(in) - 1 - off, 0, &dflt, &req);
        FC_CHECK(rc > 0);
        FC_CHECK_SLICE(req.target, req.target_len, targets[i]);
        off += (size_t)rc + (req.has_content_length ? req.content_length : 0);
    }
    struct fc_http_header hdr[HDR_CAP];
    struct fc_http_req req = {.headers = hdr, .headers_cap = HDR_CAP};
    FC_CHECK_INT(fc_http_parse_request(buf + off, sizeof(in) - 1 - off, 0, &dflt, &req), -EAGAIN);
    fc_test_guarded_free(buf, sizeof(in) - 1);
}

/* Valid heads (and one with a body after it) that the split tests use. */
static const char *const valid_reqs[] = {
    "GET / HTTP/1.1\r\n\r\n",
    "GET /2016-08-15/proxy/svc/fn/path?x=1&y=2 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n"
    "User-Agent: curl/8.0\r\nAccept: */*\r\nX-Fc-Invocation-Type: Sync\r\n\r\n",
    "\r\n\r\nPOST /invoke HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
    "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n"
    "Connection: te, close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nA:\r\nB:  \t\r\nC: d\te\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\n\n", /* bare LF: the answer must not depend on pieces either */
    "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
};
#define VALID_REQS (sizeof(valid_reqs) / sizeof(valid_reqs[0]))

FC_TEST(http_byte_by_byte) {
    static const struct fc_http_limits small = {40, 3};
    const struct fc_http_limits *lims[] = {&dflt, &small};
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; i < VALID_REQS; i++) {
            struct snap whole, pieces;
            size_t one = 1, len = strlen(valid_reqs[i]);
            snap_whole(&whole, valid_reqs[i], len, lims[l]);
            parse_pieces(&pieces, valid_reqs[i], len, lims[l], &one, 1);
            if (!snap_equal(&whole, &pieces))
                fprintf(stderr, "# limits %zu request %zu: whole %zd, pieces %zd\n", l, i, whole.rc,
                        pieces.rc);
            FC_CHECK(snap_equal(&whole, &pieces));
        }
    }
}

FC_TEST(http_malformed_table) {
    static const struct {
        const char *req;
        int rc;
    } rows[] = {
        /* framing: RFC 9112 §6.1, §6.3 */
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -ENOTSUP},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
         -ENOTSUP},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", -EBADMSG},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG},
        /* field syntax: RFC 9112 §5 */
        {"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", -EBADMSG},  /* obs-fold */
        {"GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", -EBADMSG}, /* obs-fold, HTAB */
        {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", -EBADMSG},    /* first line folded */
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", -EBADMSG},    /* space before colon */
        {"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", -EBADMSG},
        {"GET / HTTP/1.1\r\nA: b\x01z\r\n\r\n", -EBADMSG}, /* CTL in value */
        {"GET / HTTP/1.1\r\nA: b\x7fz\r\n\r\n", -EBADMSG}, /* DEL in value */
        {"GET / HTTP/1.1\r\nA: b\rz\r\n\r\n", -EBADMSG},   /* bare CR in value */
        {"GET / HTTP/1.1\r\nA(b: c\r\n\r\n", -EBADMSG},    /* not a token */
        {"GET / HTTP/1.1\r\n: c\r\n\r\n", -EBADMSG},       /* empty name */
        {"GET / HTTP/1.1\r\nAbc\r\n\r\n", -EBADMSG},       /* no colon */
        {"GET / HTTP/1.1\r\n\rA: b\r\n\r\n", -EBADMSG},    /* bare CR at line start */
        {"GET / HTTP/1.1\r\nExpect: 100-continue-ish\r\n\r\n", -EBADMSG},
        {"GET / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", -EBADMSG},
        {"GET / HTTP/1.1\r\nConnection: close;x\r\n\r\n", -EBADMSG},
        /* line endings */
        {"GET / HTTP/1.1\nHost: a\n\n", -EBADMSG},
        {"GET / HTTP/1.1\r\nHost: a\n\r\n", -EBADMSG},
        {"GET / HTTP/1.1\r\n\n", -EBADMSG},
        {"GET / HTTP/1.1\r\nHost: a\r\n", -EAGAIN}, /* complete lines only */
        {"\nGET / HTTP/1.1\r\n\r\n", -EBADMSG},
        {"\r\rGET / HTTP/1.1\r\n\r\n", -EBADMSG},
        {"GET / HTTP/1.1\n", -EBADMSG}, /* found before the end */
        /* request line: RFC 9112 §3 */
        {"GET / HTTP/2.0\r\n\r\n", -EBADMSG},
        {"GET / HTTP/1.2\r\n\r\n", -EBADMSG},
        {"GET / HTTP/0.9\r\n\r\n", -EBADMSG},
        {"GET / http/1.1\r\n\r\n", -EBADMSG},
        {"GET / HTTP/1.1 \r\n\r\n", -EBADMSG},
        {"GET / HTTP/1.10\r\n\r\n", -EBADMSG},
        {"GET / HTTP/1\r\n\r\n", -EBADMSG},
        {"GET /\r\n\r\n", -EBADMSG},        /* HTTP/0.9 */
        {"GET HTTP/1.1\r\n\r\n", -EBADMSG}, /* missing target */
        {"GET  / HTTP/1.1\r\n\r\n", -EBADMSG},
        {"GET /  HTTP/1.1\r\n\r\n", -EBADMSG},
        {"GET /a b HTTP/1.1\r\n\r\n", -EBADMSG},
        {"GET /a\x01 HTTP/1.1\r\n\r\n", -EBADMSG},
        {"GET /a\x7f HTTP/1.1\r\n\r\n", -EBADMSG},
        {"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", -EBADMSG},
        {"GET /a\tb HTTP/1.1\r\n\r\n", -EBADMSG},
        {" GET / HTTP/1.1\r\n\r\n", -EBADMSG},
        {"G(T / HTTP/1.1\r\n\r\n", -EBADMSG},
        {"GET\t/ HTTP/1.1\r\n\r\n", -EBADMSG},
        {"GET * HTTP/1.1\r\n\r\n", -EBADMSG},
        {"OPTIONS *x HTTP/1.1\r\n\r\n", -EBADMSG},
        {"GET abc HTTP/1.1\r\n\r\n", -EBADMSG},
        {"GET http: HTTP/1.1\r\n\r\n", -EBADMSG},
        {"GET / HTTP/1.1\x00\r\n\r\n", -EBADMSG},
        {"GET / HTTP/9.9\r\n", -EAGAIN}, /* judged when complete */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t len = strlen(rows[i].req);
        if (i == sizeof(rows) / sizeof(rows[0]) - 2)
            len = sizeof("GET / HTTP/1.1\x00\r\n\r\n") - 1; /* has a NUL */
        struct parsed p;
        parse(&p, rows[i].req, len);
        if (p.rc != rows[i].rc)
            fprintf(stderr, "# row %zu: got %zd (%s), expected %d: %s\n", i, p.rc,
                    p.req.error ? p.req.error : "-", rows[i].rc, rows[i].req);
        FC_CHECK_INT(p.rc, rows[i].rc);
        FC_CHECK(p.rc == -EAGAIN || (p.req.error != NULL && p.req.error[0] != '\0'));
        parsed_free(&p);
    }
}

FC_TEST(http_error_reasons) {
    static const struct {
        const char *req, *why;
    } rows[] = {
        {"GET / HTTP/2.0\r\n\r\n", "unsupported HTTP version"},
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "space before colon in header"},
        {"GET / HTTP/1.1\r\nA(: a\r\n\r\n", "invalid character in header name"},
        {"GET / HTTP/1.1\r\nA: \x01\r\n\r\n", "invalid character in header value"},
        {"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", "obs-fold not allowed"},
        {"GET / HTTP/1.1\nA: b\n\n", "bare LF"},
        {"GET / HTTP/1.1\r\nExpect: x\r\n\r\n", "unsupported Expect"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: br, chunked\r\n\r\n",
         "unsupported Transfer-Encoding"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct parsed p;
        parse(&p, rows[i].req, strlen(rows[i].req));
        FC_CHECK(p.rc < 0);
        FC_CHECK_STR(p.req.error, rows[i].why);
        parsed_free(&p);
    }
}

FC_TEST(http_head_bytes_limit) {
    static const char req[] = "GET / HTTP/1.1\r\nX-A: aaaaaaaa\r\n\r\n";
    const uint32_t n = sizeof(req) - 1;
    struct fc_http_limits at = {n, 8}, under = {n - 1, 8};
    struct parsed p;
    parse_lim(&p, S(req), &at);
    FC_CHECK_INT(p.rc, n);
    parsed_free(&p);
    parse_lim(&p, S(req), &under);
    FC_CHECK_INT(p.rc, -E2BIG);
    FC_CHECK(p.req.error != NULL);
    parsed_free(&p);

    /* while incomplete: n - 1 bytes fit the exact limit, not one less */
    parse_lim(&p, req, n - 1, &at);
    FC_CHECK_INT(p.rc, -EAGAIN);
    parsed_free(&p);
    parse_lim(&p, req, n - 1, &under);
    FC_CHECK_INT(p.rc, -E2BIG);
    parsed_free(&p);

    /* bytes after a head that fits (a pipelined request) do not count */
    static const char two[] = "GET / HTTP/1.1\r\nX-A: aaaaaaaa\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    parse_lim(&p, S(two), &at);
    FC_CHECK_INT(p.rc, n);
    parsed_free(&p);

    /* a client that never ends its head, or sends only empty lines */
    char big[9000];
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /", 5);
    parse(&p, big, sizeof(big));
    FC_CHECK_INT(p.rc, -E2BIG);
    parsed_free(&p);
    for (size_t i = 0; i < sizeof(big); i += 2)
        memcpy(big + i, "\r\n", 2);
    parse(&p, big, sizeof(big));
    FC_CHECK_INT(p.rc, -E2BIG);
    parsed_free(&p);
    parse(&p, big, 8190);
    FC_CHECK_INT(p.rc, -EAGAIN);
    parsed_free(&p);
}

FC_TEST(http_header_count_limit) {
    static const char three[] = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    static const char four[] = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    struct fc_http_limits lim = {8192, 3};
    struct parsed p;
    parse_lim(&p, S(three), &lim);
    FC_CHECK_INT(p.rc, p.len);
    FC_CHECK_INT(p.req.headers_count, 3);
    parsed_free(&p);
    parse_lim(&p, S(four), &lim);
    FC_CHECK_INT(p.rc, -E2BIG);
    FC_CHECK_STR(p.req.error, "too many headers");
    parsed_free(&p);

    /* the caller's array is a limit too */
    struct fc_http_limits loose = {8192, 100};
    char *buf = fc_test_guarded(S(three));
    struct fc_http_header hdr[2];
    struct fc_http_req req = {.headers = hdr, .headers_cap = 2};
    FC_CHECK_INT(fc_http_parse_request(buf, sizeof(three) - 1, 0, &loose, &req), -E2BIG);
    req.headers_cap = 0;
    req.headers = NULL;
    FC_CHECK_INT(fc_http_parse_request(buf, sizeof(three) - 1, 0, &loose, &req), -E2BIG);
    fc_test_guarded_free(buf, sizeof(three) - 1);
}

FC_TEST(http_header_find) {
    struct parsed p;
    parse(&p, S("GET / HTTP/1.1\r\nA: 1\r\nX-Dup: first\r\nx-dup: second\r\nB:\r\n\r\n"));
    FC_CHECK_INT(p.rc, p.len);
    const struct fc_http_header *h = fc_http_header_find(&p.req, S("X-DUP"));
    FC_CHECK(h != NULL);
    FC_CHECK_SLICE(h->value, h->value_len, "first");
    h = fc_http_header_find(&p.req, S("b"));
    FC_CHECK(h != NULL && h->value_len == 0);
    FC_CHECK(fc_http_header_find(&p.req, S("C")) == NULL);
    FC_CHECK(fc_http_header_find(&p.req, "", 0) == NULL);
    parsed_free(&p);
}

/* ---- chunked bodies ----------------------------------------------------- */

static const char wiki[] = "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
static const char wiki_out[] = "Wikipedia in\r\n\r\nchunks.";

FC_TEST(http_chunked_whole) {
    char out[sizeof(wiki)];
    size_t n;
    uint64_t total;
    FC_CHECK_INT(decode_whole(S(wiki), UINT64_MAX, out, &n, &total), 0);
    FC_CHECK_SLICE(out, n, wiki_out);
    FC_CHECK_INT(total, sizeof(wiki_out) - 1);

    /* the decoded bytes move to the front of the caller's buffer */
    char *buf = fc_test_guarded(S(wiki));
    struct fc_http_chunked dec = {0};
    size_t len = sizeof(wiki) - 1;
    total = 0;
    FC_CHECK_INT(fc_http_chunked_decode(&dec, buf, &len, &total, 1000), 0);
    FC_CHECK_SLICE(buf, len, wiki_out);
    /* after the end, input is left alone */
    len = 5;
    FC_CHECK_INT(fc_http_chunked_decode(&dec, buf, &len, &total, 1000), 5);
    FC_CHECK_INT(len, 0);
    fc_test_guarded_free(buf, sizeof(wiki) - 1);

    /* upper-case hex, leading zeros, an empty body */
    FC_CHECK_INT(
        decode_whole(S("00000000000000000000A\r\n0123456789\r\n0\r\n\r\n"), 100, out, &n, &total),
        0);
    FC_CHECK_SLICE(out, n, "0123456789");
    FC_CHECK_INT(decode_whole(S("0\r\n\r\n"), 100, out, &n, &total), 0);
    FC_CHECK_INT(n, 0);
}

FC_TEST(http_chunked_byte_by_byte) {
    char out[sizeof(wiki)];
    size_t n, one = 1, mixed[] = {1, 2, 3, 5, 7};
    uint64_t total;
    FC_CHECK_INT(decode_pieces(S(wiki), &one, 1, UINT64_MAX, out, &n, &total), 0);
    FC_CHECK_SLICE(out, n, wiki_out);
    FC_CHECK_INT(decode_pieces(S(wiki), mixed, 5, UINT64_MAX, out, &n, &total), 0);
    FC_CHECK_SLICE(out, n, wiki_out);
    FC_CHECK_INT(total, sizeof(wiki_out) - 1);

    /* more input than the body: the count of what is left, however split */
    static const char more[] = "3\r\nabc\r\n0\r\n\r\nNEXT";
    char out2[sizeof(more)];
    FC_CHECK_INT(decode_pieces(S(more), &one, 1, 100, out2, &n, &total), 4);
    FC_CHECK_SLICE(out2, n, "abc");
    FC_CHECK_INT(decode_pieces(S(more), mixed, 5, 100, out2, &n, &total), 4);
    FC_CHECK_INT(decode_whole(S(more), 100, out2, &n, &total), 4);
}

FC_TEST(http_chunked_extensions) {
    char out[2048];
    size_t n;
    uint64_t total;
    FC_CHECK_INT(
        decode_whole(S("4;a=b;c=\"x; y\"\r\nWiki\r\n0;last\r\n\r\n"), 100, out, &n, &total), 0);
    FC_CHECK_SLICE(out, n, "Wiki");
    FC_CHECK_INT(decode_whole(S("4 \t;a\r\nWiki\r\n0\r\n\r\n"), 100, out, &n, &total), 0);

    /* FC_HTTP_CHUNK_LINE_MAX (1 KB) bounds the whole size line */
    char line[1200];
    memset(line, 'x', sizeof(line));
    memcpy(line, "1;", 2);
    memcpy(line + 1022, "\r\n", 2); /* 1024 bytes with CRLF: fits */
    FC_CHECK_INT(decode_whole(line, 1024, 100, out, &n, &total), -EAGAIN);
    memcpy(line + 1022, "x\r\n", 3); /* 1025 bytes */
    FC_CHECK_INT(decode_whole(line, 1025, 100, out, &n, &total), -EBADMSG);
    FC_CHECK_INT(decode_whole(line, sizeof(line), 100, out, &n, &total), -EBADMSG);

    /* CTLs and bare CR/LF in an extension */
    FC_CHECK_INT(decode_whole(S("1;a\x01\r\nx\r\n0\r\n\r\n"), 100, out, &n, &total), -EBADMSG);
    FC_CHECK_INT(decode_whole(S("1;a\nx\r\n0\r\n\r\n"), 100, out, &n, &total), -EBADMSG);
    FC_CHECK_INT(decode_whole(S("1;a\rx\r\n0\r\n\r\n"), 100, out, &n, &total), -EBADMSG);
}

FC_TEST(http_chunked_trailers) {
    char out[10000];
    size_t n, one = 1;
    uint64_t total;
    static const char tr[] = "2\r\nhi\r\n0\r\nX-Checksum: abc\r\nX-B:\t2 \r\n\r\nGET";
    FC_CHECK_INT(decode_whole(S(tr), 100, out, &n, &total), 3);
    FC_CHECK_SLICE(out, n, "hi");
    FC_CHECK_INT(decode_pieces(S(tr), &one, 1, 100, out, &n, &total), 3);

    FC_CHECK_INT(decode_whole(S("0\r\nX: 1\r\n y\r\n\r\n"), 100, out, &n, &total), -EBADMSG);
    FC_CHECK_INT(decode_whole(S("0\r\nX : 1\r\n\r\n"), 100, out, &n, &total), -EBADMSG);
    FC_CHECK_INT(decode_whole(S("0\r\nX: 1\n\r\n"), 100, out, &n, &total), -EBADMSG);
    FC_CHECK_INT(decode_whole(S("0\r\nX: \x01\r\n\r\n"), 100, out, &n, &total), -EBADMSG);
    FC_CHECK_INT(decode_whole(S("0\r\n\n"), 100, out, &n, &total), -EBADMSG);
    FC_CHECK_INT(decode_whole(S("0\r\n\rX"), 100, out, &n, &total), -EBADMSG);

    /* FC_HTTP_TRAILERS_MAX (8 KB) bounds the trailer section */
    static char big[9000];
    memcpy(big, "0\r\n", 3);
    size_t off = 3;
    while (off + 100 < 8192 + 3) {
        memcpy(big + off, "X:", 2);
        memset(big + off + 2, 'v', 96);
        memcpy(big + off + 98, "\r\n", 2);
        off += 100;
    }
    memcpy(big + off, "\r\n", 2); /* 8102 trailer bytes: fits */
    FC_CHECK_INT(decode_whole(big, off + 2, 100, out, &n, &total), 0);
    memcpy(big + off, "X:", 2);
    memset(big + off + 2, 'v', 96);
    memcpy(big + off + 98, "\r\n\r\n", 4); /* 8202 */
    FC_CHECK_INT(decode_whole(big, off + 102, 100, out, &n, &total), -EBADMSG);
}

FC_TEST(http_chunked_bad) {
    static const char *const rows[] = {
        "\r\n",
        "g\r\n",
        "-1\r\n",
        "+1\r\n",
        "0x5\r\n",
        "1 2\r\n",
        "1 \r\n",
        " 1\r\n",
        "1\n",
        "1\rx",
        ";a\r\n",
        "1;\x7f\r\n",
        "10000000000000000\r\n", /* 2^64: overflows */
        "fffffffffffffffff\r\n", /* 17 digits */
        "3\r\nabcX",             /* missing CRLF after data */
        "3\r\nabc\rX",
        "3\r\nabc\n",
        "3\r\nabcd\r\n", /* longer than its size */
        "0\r\n\r\r",
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char out[64];
        size_t n, one = 1;
        uint64_t total;
        ssize_t whole = decode_whole(rows[i], strlen(rows[i]), UINT64_MAX, out, &n, &total);
        ssize_t bytes =
            decode_pieces(rows[i], strlen(rows[i]), &one, 1, UINT64_MAX, out, &n, &total);
        if (whole != -EBADMSG || bytes != -EBADMSG)
            fprintf(stderr, "# row %zu: %zd / %zd\n", i, whole, bytes);
        FC_CHECK_INT(whole, -EBADMSG);
        FC_CHECK_INT(bytes, -EBADMSG);
    }
    /* the largest size is fine until its data fails to come */
    char out[8];
    size_t n;
    uint64_t total;
    FC_CHECK_INT(decode_whole(S("ffffffffffffffff\r\n"), UINT64_MAX, out, &n, &total), -EAGAIN);

    /* an error sticks */
    char bad[] = "x";
    struct fc_http_chunked dec = {0};
    size_t len = 1;
    total = 0;
    FC_CHECK_INT(fc_http_chunked_decode(&dec, bad, &len, &total, 10), -EBADMSG);
    char good[] = "0\r\n\r\n";
    len = 5;
    FC_CHECK_INT(fc_http_chunked_decode(&dec, good, &len, &total, 10), -EBADMSG);
}

FC_TEST(http_chunked_body_max) {
    static const char body[] = "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
    char out[sizeof(body)];
    size_t n, one = 1;
    uint64_t total;
    FC_CHECK_INT(decode_whole(S(body), 6, out, &n, &total), 0);
    FC_CHECK_INT(total, 6);
    FC_CHECK_INT(decode_whole(S(body), 5, out, &n, &total), -E2BIG);
    FC_CHECK_INT(total, 3); /* refused at the second size line, before its data */
    FC_CHECK_INT(decode_pieces(S(body), &one, 1, 5, out, &n, &total), -E2BIG);
    FC_CHECK_INT(decode_whole(S("ffffffffffffffff\r\n"), 1u << 20, out, &n, &total), -E2BIG);
}

/* A chunked POST, then a GET on the same connection: head, body, the bytes
 * left after the body, and the next head from there. */
FC_TEST(http_chunked_pipelined) {
    static const char in[] = "POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nT: 1\r\n\r\n"
                             "GET /next HTTP/1.1\r\nConnection: close\r\n\r\n";
    const size_t len = sizeof(in) - 1;
    char *buf = fc_test_guarded(in, len);
    struct fc_http_header hdr[HDR_CAP];
    struct fc_http_req req = {.headers = hdr, .headers_cap = HDR_CAP};
    ssize_t head = fc_http_parse_request(buf, len, 0, &dflt, &req);
    FC_CHECK(head > 0 && req.chunked && req.keep_alive);

    struct fc_http_chunked dec = {0};
    uint64_t total = 0;
    size_t body_in = len - (size_t)head, body_len = body_in;
    ssize_t left = fc_http_chunked_decode(&dec, buf + head, &body_len, &total, 1000);
    FC_CHECK_INT(left, sizeof("GET /next HTTP/1.1\r\nConnection: close\r\n\r\n") - 1);
    FC_CHECK_SLICE(buf + head, body_len, "hello world");

    const char *next = buf + head + body_in - (size_t)left;
    req = (struct fc_http_req){.headers = hdr, .headers_cap = HDR_CAP};
    FC_CHECK_INT(fc_http_parse_request(next, (size_t)left, 0, &dflt, &req), left);
    FC_CHECK_SLICE(req.target, req.target_len, "/next");
    FC_CHECK(!req.keep_alive);
    fc_test_guarded_free(buf, len);
}

/* ---- randomized splits -------------------------------------------------- */

/* xorshift64*: fixed seeds, so a failure replays. */
static uint64_t rnd(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

FC_TEST(http_random_splits) {
    static const char *const bodies[] = {
        wiki,
        "1\r\na\r\n10;ext=\"q\"\r\n0123456789abcdef\r\n0\r\nA: b\r\n\r\nrest",
        "3\r\nabc\r\n3\r\nabX",
    };
    const uint64_t base_seed = 0x5eed0f00dull;
    for (uint64_t iter = 0; iter < 3000; iter++) {
        uint64_t seed = base_seed + iter, s = seed;
        size_t steps[4];
        for (int k = 0; k < 4; k++)
            steps[k] = 1 + rnd(&s) % 17;
        const char *r = valid_reqs[iter % VALID_REQS];
        struct fc_http_limits lim = {20 + (uint32_t)(rnd(&s) % 200), (uint32_t)(rnd(&s) % 6)};
        if (iter % 2)
            lim = dflt;
        struct snap whole, pieces;
        snap_whole(&whole, r, strlen(r), &lim);
        parse_pieces(&pieces, r, strlen(r), &lim, steps, 4);
        if (!snap_equal(&whole, &pieces))
            fprintf(stderr, "# seed %#llx: request %zu split differently\n",
                    (unsigned long long)seed, (size_t)(iter % VALID_REQS));
        FC_CHECK(snap_equal(&whole, &pieces));

        const char *b = bodies[iter % 3];
        size_t blen = strlen(b), n1, n2;
        char o1[128], o2[128];
        uint64_t t1, t2, max = rnd(&s) % 40;
        ssize_t r1 = decode_whole(b, blen, max, o1, &n1, &t1);
        ssize_t r2 = decode_pieces(b, blen, steps, 4, max, o2, &n2, &t2);
        if (r1 != r2 || n1 != n2 || t1 != t2 || memcmp(o1, o2, n1) != 0)
            fprintf(stderr, "# seed %#llx: body %zu decoded differently (%zd, %zd)\n",
                    (unsigned long long)seed, (size_t)(iter % 3), r1, r2);
        FC_CHECK(r1 == r2 && n1 == n2 && t1 == t2 && memcmp(o1, o2, n1) == 0);
    }
}

FC_TEST(http_reason) {
    static const struct {
        int status;
        const char *reason;
    } rows[] = {
        {100, "Continue"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {411, "Length Required"},
        {412, "Precondition Failed"},
        {413, "Content Too Large"},
        {415, "Unsupported Media Type"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {499, "Client Closed Request"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {0, "Unknown"},
        {-1, "Unknown"},
        {299, "Unknown"},
        {1000, "Unknown"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        FC_CHECK_STR(fc_http_reason(rows[i].status), rows[i].reason);
}
