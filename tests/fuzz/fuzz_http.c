/* fuzz_http.c — libFuzzer target for io/http.c.
 *
 * Each input is parsed as a request head under three limit sets, whole and
 * fed in growing pieces (with prev_len), and the results must agree; a parsed
 * head must lie inside the input. The chunked decoder then runs over the rest
 * of the input after a chunked head, and over the whole input as a body,
 * whole and one byte at a time, and both runs must agree.
 *
 *   clang -std=gnu11 -O1 -g -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *       -o fuzz_http tests/fuzz/fuzz_http.c io/http.c
 *   ./fuzz_http -max_len=4096 CORPUS_DIR tests/fuzz/corpus_http */
#include "io/http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HEADERS_CAP 64

/* Abort (a crash libFuzzer reports) when an invariant fails. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

struct parse {
    ssize_t rc;
    struct fc_http_req req;
    struct fc_http_header headers[HEADERS_CAP];
};

/* Parse buf[0..len) with prev_len into *out. */
static void parse(const char *buf, size_t len, size_t prev_len, const struct fc_http_limits *lim,
                  struct parse *out) {
    memset(out, 0, sizeof(*out));
    out->req.headers = out->headers;
    out->req.headers_cap = HEADERS_CAP;
    out->rc = fc_http_parse_request(buf, len, prev_len, lim, &out->req);
}

/* Two parses gave the same answer, field by field. */
static void check_same(const struct parse *a, const struct parse *b) {
    CHECK(a->rc == b->rc);
    if (a->rc != -EAGAIN && a->rc < 0) {
        CHECK(a->req.error == b->req.error);
        return;
    }
    if (a->rc < 0)
        return;
    const struct fc_http_req *x = &a->req, *y = &b->req;
    CHECK(x->method == y->method && x->method_len == y->method_len);
    CHECK(x->target == y->target && x->target_len == y->target_len);
    CHECK(x->method_id == y->method_id && x->minor_version == y->minor_version);
    CHECK(x->keep_alive == y->keep_alive && x->chunked == y->chunked);
    CHECK(x->expect_continue == y->expect_continue);
    CHECK(x->has_content_length == y->has_content_length);
    CHECK(x->content_length == y->content_length);
    CHECK(x->headers_count == y->headers_count);
    CHECK(memcmp(a->headers, b->headers, x->headers_count * sizeof(a->headers[0])) == 0);
}

/* A result is well-formed: a known code, a reason on error, slices inside
 * the head on success. */
static void check_result(const char *buf, size_t len, const struct fc_http_limits *lim,
                         const struct parse *p) {
    const struct fc_http_req *r = &p->req;
    if (p->rc < 0) {
        CHECK(p->rc == -EAGAIN || p->rc == -EBADMSG || p->rc == -E2BIG || p->rc == -ENOTSUP);
        CHECK(p->rc == -EAGAIN || r->error != NULL);
        return;
    }
    size_t n = (size_t)p->rc;
    CHECK(n >= 4 && n <= len && n <= lim->head_bytes_max);
    CHECK(memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
    CHECK(r->error == NULL && r->minor_version <= 1);
    CHECK(r->method >= buf && r->method + r->method_len <= buf + n && r->method_len > 0);
    CHECK(r->target > r->method && r->target + r->target_len <= buf + n && r->target_len > 0);
    CHECK(r->headers_count <= lim->headers_max && r->headers_count <= HEADERS_CAP);
    CHECK(!(r->chunked && r->has_content_length));
    for (uint32_t i = 0; i < r->headers_count; i++) {
        const struct fc_http_header *h = &r->headers[i];
        CHECK(h->name > r->target && h->name + h->name_len <= buf + n && h->name_len > 0);
        CHECK(h->value >= h->name + h->name_len + 1 && h->value + h->value_len <= buf + n);
        CHECK(fc_http_header_find(r, h->name, h->name_len) != NULL);
    }
}

/* Feed buf in pieces growing by `step` bytes, passing prev_len, until an
 * answer; it must equal a from-scratch parse of that prefix and of the
 * whole input (an answer never changes once given). */
static void check_pieces(const char *buf, size_t len, size_t step, const struct fc_http_limits *lim,
                         const struct parse *whole) {
    static struct parse part, fresh;
    size_t prev = 0;
    for (size_t n = step < len ? step : len;; n = n + step < len ? n + step : len) {
        parse(buf, n, prev, lim, &part);
        if (part.rc != -EAGAIN || n == len) {
            parse(buf, n, 0, lim, &fresh);
            check_same(&part, &fresh);
            check_same(&part, whole);
            return;
        }
        prev = n;
    }
}

/* Decode body[0..len) as chunked, whole and byte by byte; same results. */
static void check_chunked(const char *body, size_t len, uint64_t max) {
    char *a = malloc(len + 1), *b = malloc(len + 1);
    CHECK(a != NULL && b != NULL);
    memcpy(a, body, len);
    struct fc_http_chunked da = {0}, db = {0};
    uint64_t ta = 0, tb = 0;
    size_t na = len;
    ssize_t ra = fc_http_chunked_decode(&da, a, &na, &ta, max);
    CHECK(na <= len && ta == na && ta <= max);
    CHECK(ra == -EAGAIN || ra == -EBADMSG || ra == -E2BIG || (ra >= 0 && (size_t)ra <= len));

    ssize_t rb = -EAGAIN;
    size_t nb = 0, i = 0;
    while (i < len && rb == -EAGAIN) {
        char c = body[i++];
        size_t one = 1;
        rb = fc_http_chunked_decode(&db, &c, &one, &tb, max);
        CHECK(one <= 1);
        if (one)
            b[nb++] = c;
    }
    if (rb >= 0)
        rb = (ssize_t)(len - i); /* the remainder after the piece that ended it */
    CHECK(ra == rb && na == nb && ta == tb && memcmp(a, b, na) == 0);
    if (ra >= 0) /* remainder count points at the untouched tail */
        CHECK(memcmp(a + len - (size_t)ra, body + len - (size_t)ra, (size_t)ra) == 0);
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const struct fc_http_limits limits[] = {{8192, 64}, {64, 4}, {300, 12}};
    const char *buf = (const char *)data;
    for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
        static struct parse whole;
        parse(buf, size, 0, &limits[l], &whole);
        check_result(buf, size, &limits[l], &whole);
        if (size > 0) {
            check_pieces(buf, size, 1, &limits[l], &whole);
            check_pieces(buf, size, 1 + size / 3, &limits[l], &whole);
        }
        if (l == 0 && whole.rc > 0 && whole.req.chunked) {
            check_chunked(buf + whole.rc, size - (size_t)whole.rc, UINT64_MAX);
            check_chunked(buf + whole.rc, size - (size_t)whole.rc, 16);
        }
    }
    check_chunked(buf, size, 1u << 20);
    check_chunked(buf, size, 7);
    return 0;
}
