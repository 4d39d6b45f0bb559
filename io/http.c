/* http.c — HTTP/1.1 request head parser and chunked decoder (RFC 9112).
 *
 * The head is parsed in two steps. First a memchr-driven scan looks for the
 * blank line that ends the head ("\r\n\r\n"), starting near prev_len so that
 * a head arriving in pieces is scanned once overall; the scan also rejects a
 * bare LF at once, so a client that ends lines with LF gets its 400 now and
 * not when the head limit runs out. Only when the whole head is present is it
 * parsed and validated, line by line, with one table lookup per byte. So the
 * result depends on buf[0..len) alone, never on how it arrived.
 *
 * Line endings: RFC 9112 §2.2 lets a recipient accept a bare LF as a line
 * terminator. fcd does not: a proxy in front of us that disagrees on where a
 * line ends is the classic request-smuggling setup, so a bare LF or a bare CR
 * anywhere in the head (or in chunk framing) is -EBADMSG. */
#include "io/http.h"

#include "core/assert.h"
#include <errno.h>
#include <string.h>

/* Bounds on chunk framing that the body size limit does not cover. A chunk
 * size line (hex size, extensions, CRLF) longer than FC_HTTP_CHUNK_LINE_MAX
 * or a trailer section longer than FC_HTTP_TRAILERS_MAX is -EBADMSG; without
 * them a client could stream framing bytes forever without any body. */
#define FC_HTTP_CHUNK_LINE_MAX 1024u
#define FC_HTTP_TRAILERS_MAX 8192u
_Static_assert(FC_HTTP_CHUNK_LINE_MAX <= UINT16_MAX, "line_bytes is a uint16_t");
_Static_assert(FC_HTTP_TRAILERS_MAX <= UINT16_MAX, "line_bytes is a uint16_t");

/* Byte classes. C_TCHAR: token (RFC 9110 §5.6.2). C_VALUE: field-vchar, SP,
 * HTAB and obs-text (RFC 9110 §5.5). C_TARGET: the visible ASCII bytes allowed
 * in a request-target (no CTL, no SP, nothing >= 0x7F). */
enum { C_TCHAR = 1, C_VALUE = 2, C_TARGET = 4 };

static const uint8_t ctab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    2, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6, /* 0x20 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, /* 0x30 */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x40 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7, /* 0x50 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x60 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0, /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xa0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xb0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xc0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xd0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xe0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xf0 */
};

/* Class bits of byte c. */
static inline unsigned cls(char c) {
    return ctab[(uint8_t)c];
}

/* OWS = *( SP / HTAB ). */
static inline int is_ows(char c) {
    return c == ' ' || c == '\t';
}

/* ASCII lower case; bytes other than A-Z are returned as they are. */
static inline unsigned char lower(char c) {
    unsigned char u = (unsigned char)c;
    return u >= 'A' && u <= 'Z' ? (unsigned char)(u + 32) : u;
}

/* a[0..n) equals the lower-case literal lit[0..n), ignoring ASCII case. */
static int ieq(const char *a, const char *lit, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != (unsigned char)lit[i])
            return 0;
    return 1;
}

/* Record why the parse failed and return -code. `why` must be static. */
static int fail(struct fc_http_req *req, int code, const char *why) {
    FC_ASSERT(code == EBADMSG || code == E2BIG || code == ENOTSUP);
    req->error = why;
    return -code;
}

/* Map a method token to its id; methods are case-sensitive (RFC 9110 §9.1). */
static enum fc_http_method method_id(const char *m, size_t n) {
    switch (n) {
    case 3:
        if (memcmp(m, "GET", 3) == 0)
            return FC_HTTP_GET;
        if (memcmp(m, "PUT", 3) == 0)
            return FC_HTTP_PUT;
        break;
    case 4:
        if (memcmp(m, "POST", 4) == 0)
            return FC_HTTP_POST;
        if (memcmp(m, "HEAD", 4) == 0)
            return FC_HTTP_HEAD;
        break;
    case 5:
        if (memcmp(m, "PATCH", 5) == 0)
            return FC_HTTP_PATCH;
        break;
    case 6:
        if (memcmp(m, "DELETE", 6) == 0)
            return FC_HTTP_DELETE;
        break;
    case 7:
        if (memcmp(m, "OPTIONS", 7) == 0)
            return FC_HTTP_OPTIONS;
        break;
    }
    return FC_HTTP_OTHER;
}

/* ---- head framing ------------------------------------------------------ */

/* Skip the empty lines that may precede the request line (RFC 9112 §2.2),
 * looking at buf[0..lim) only. Returns the offset of the request line's first
 * byte (a lone trailing CR stays unskipped: its LF has not arrived), or
 * -EBADMSG for a bare LF or bare CR. Costs O(empty lines) per call. */
static ssize_t skip_empty_lines(const char *buf, size_t lim, struct fc_http_req *req) {
    size_t s = 0;
    while (s < lim) {
        if (buf[s] == '\n')
            return fail(req, EBADMSG, "bare LF");
        if (buf[s] != '\r' || s + 1 == lim)
            break;
        if (buf[s + 1] != '\n')
            return fail(req, EBADMSG, "bare CR");
        s += 2;
    }
    FC_ASSERT(s <= lim);
    return (ssize_t)s;
}

/* Find the end of the head: the offset just past the first "\r\n\r\n" whose
 * LF lies in buf[from..lim), the request line starting at `start`. Every LF
 * met on the way must follow a CR. Returns the end offset, 0 when there is no
 * end yet, or -EBADMSG (bare LF). The memchr makes this the fast path. */
static ssize_t find_head_end(const char *buf, size_t start, size_t from, size_t lim,
                             struct fc_http_req *req) {
    FC_ASSERT(start <= from);
    size_t i = from;
    while (i < lim) {
        const char *lf = memchr(buf + i, '\n', lim - i);
        if (lf == NULL)
            return 0;
        size_t k = (size_t)(lf - buf);
        if (k == 0 || buf[k - 1] != '\r')
            return fail(req, EBADMSG, "bare LF");
        if (k >= start + 3 && buf[k - 2] == '\n' && buf[k - 3] == '\r')
            return (ssize_t)(k + 1);
        i = k + 1;
    }
    return 0;
}

/* ---- request line ------------------------------------------------------ */

/* Check the form of a request-target whose bytes are already known to be
 * visible ASCII: origin-form ("/..."), asterisk-form ("*", OPTIONS only) or
 * absolute-form (scheme ":" ...). authority-form is CONNECT's, which fcd
 * does not serve. Returns 0 or -EBADMSG. */
static int check_target(const char *t, size_t n, struct fc_http_req *req) {
    FC_ASSERT(n > 0);
    if (t[0] == '/')
        return 0;
    if (n == 1 && t[0] == '*')
        return req->method_id == FC_HTTP_OPTIONS
                   ? 0
                   : fail(req, EBADMSG, "asterisk-form target only with OPTIONS");
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1) */
    if (lower(t[0]) < 'a' || lower(t[0]) > 'z')
        return fail(req, EBADMSG, "invalid request target");
    size_t i = 1;
    while (i < n && (((lower(t[i]) >= 'a' && lower(t[i]) <= 'z')) || (t[i] >= '0' && t[i] <= '9') ||
                     t[i] == '+' || t[i] == '-' || t[i] == '.'))
        i++;
    if (i + 1 >= n || t[i] != ':')
        return fail(req, EBADMSG, "invalid request target");
    return 0;
}

/* Parse "HTTP/1.x" CRLF at p (end bounds the head). Sets minor_version.
 * Returns 0 or -EBADMSG. */
static int parse_version(const char *p, const char *end, struct fc_http_req *req) {
    if (end - p < 10 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
        p[7] < '0' || p[7] > '9' || p[8] != '\r' || p[9] != '\n')
        return fail(req, EBADMSG, "invalid HTTP version");
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return fail(req, EBADMSG, "unsupported HTTP version");
    req->minor_version = (uint8_t)(p[7] - '0');
    return 0;
}

/* Parse the request line at *pp: method SP request-target SP HTTP-version
 * CRLF (RFC 9112 §3), exactly one SP between the parts. On success advances
 * *pp past the CRLF and returns 0; else returns -EBADMSG. */
static int parse_request_line(const char **pp, const char *end, struct fc_http_req *req) {
    const char *p = *pp;
    const char *m = p;
    while (p < end && (cls(*p) & C_TCHAR))
        p++;
    if (p == m)
        return fail(req, EBADMSG, "invalid method");
    if (p == end || *p != ' ')
        return fail(req, EBADMSG, "invalid character in method");
    req->method = m;
    req->method_len = (uint32_t)(p - m);
    req->method_id = method_id(m, req->method_len);

    const char *t = ++p;
    while (p < end && (cls(*p) & C_TARGET))
        p++;
    if (p == t)
        return fail(req, EBADMSG, "missing request target");
    if (p < end && *p == '\r')
        return fail(req, EBADMSG, "missing HTTP version");
    if (p == end || *p != ' ')
        return fail(req, EBADMSG, "invalid character in request target");
    req->target = t;
    req->target_len = (uint32_t)(p - t);
    int rc = check_target(t, req->target_len, req);
    if (rc < 0)
        return rc;
    rc = parse_version(p + 1, end, req);
    if (rc < 0)
        return rc;
    *pp = p + 11; /* SP "HTTP/1.x" CRLF */
    FC_ASSERT(*pp <= end);
    return 0;
}

/* ---- header fields ----------------------------------------------------- */

/* What the framing headers said, gathered over all header lines. */
struct hdr_state {
    uint32_t te_codings;  /* transfer codings listed, over all TE lines */
    uint32_t te_chunked;  /* how many of them were "chunked" */
    bool te_last_chunked; /* the last one listed was "chunked" */
    bool conn_close;      /* Connection lists "close" */
    bool conn_keep_alive; /* Connection lists "keep-alive" */
    bool expect_continue; /* Expect: 100-continue */
};

/* Parse one field line at *pp (name ":" OWS value OWS CRLF, RFC 9112 §5)
 * into *h and advance *pp past its CRLF. The value's OWS is stripped.
 * Returns 0 or -EBADMSG. */
static int parse_field_line(const char **pp, const char *end, struct fc_http_header *h,
                            struct fc_http_req *req) {
    const char *p = *pp;
    const char *n = p;
    while (p < end && (cls(*p) & C_TCHAR))
        p++;
    if (p == end || *p != ':') {
        if (p < end && is_ows(*p))
            return fail(req, EBADMSG, "space before colon in header");
        if (p < end && *p == '\r' && p == n)
            return fail(req, EBADMSG, "bare CR");
        return fail(req, EBADMSG, "invalid character in header name");
    }
    if (p == n)
        return fail(req, EBADMSG, "empty header name");
    h->name = n;
    h->name_len = (uint32_t)(p - n);
    p++;
    while (p < end && is_ows(*p))
        p++;
    const char *v = p;
    while (p < end && (cls(*p) & C_VALUE))
        p++;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
        return fail(req, EBADMSG, "invalid character in header value");
    const char *ve = p;
    while (ve > v && is_ows(ve[-1]))
        ve--;
    h->value = v;
    h->value_len = (uint32_t)(ve - v);
    *pp = p + 2;
    return 0;
}

/* Content-Length = 1*DIGIT, possibly as a list of identical values ("5, 5",
 * or repeated lines) which RFC 9110 §8.6 lets us fold into one. Any other
 * shape ("+5", "1 2", "", differing values) is -EBADMSG: a proxy may have
 * read it differently. Overflow-safe. Returns 0 or -EBADMSG. */
static int parse_content_length(const char *v, size_t n, struct fc_http_req *req) {
    size_t i = 0;
    for (;;) {
        size_t d = i;
        uint64_t x = 0;
        while (i < n && v[i] >= '0' && v[i] <= '9') {
            unsigned dig = (unsigned)(v[i] - '0');
            if (x > (UINT64_MAX - dig) / 10)
                return fail(req, EBADMSG, "Content-Length too large");
            x = x * 10 + dig;
            i++;
        }
        if (i == d)
            return fail(req, EBADMSG, "invalid Content-Length");
        if (req->has_content_length && req->content_length != x)
            return fail(req, EBADMSG, "conflicting Content-Length");
        req->has_content_length = true;
        req->content_length = x;
        while (i < n && is_ows(v[i]))
            i++;
        if (i == n)
            return 0;
        if (v[i] != ',')
            return fail(req, EBADMSG, "invalid Content-Length");
        i++;
        while (i < n && is_ows(v[i]))
            i++;
    }
}

/* Take the next element of the comma list v[0..n) at *i (RFC 9110 §5.6.1):
 * stores the offset of its token in *tok, advances *i past the element, its
 * OWS and its comma, and returns the token's length. Returns 0 when the
 * element is empty (v[*tok] is ',' or *tok == n) or is not a bare token
 * (v[*tok] is then some other byte); the caller decides which is an error. */
static size_t list_token(const char *v, size_t n, size_t *i, size_t *tok) {
    size_t j = *i;
    while (j < n && is_ows(v[j]))
        j++;
    *tok = j;
    while (j < n && (cls(v[j]) & C_TCHAR))
        j++;
    size_t len = j - *tok;
    while (j < n && is_ows(v[j]))
        j++;
    if (j < n && v[j] != ',')
        len = 0; /* junk after the token, e.g. a parameter */
    *i = j < n ? j + 1 : j;
    return len;
}

/* Transfer-Encoding: a list of codings, here bare tokens only; empty
 * elements and parameters are -EBADMSG (stricter than RFC 9110 §5.6.1,
 * which is the point for the one header that frames the body). The list is
 * judged after all lines are seen, in finish_head. Returns 0 or -EBADMSG. */
static int parse_transfer_encoding(const char *v, size_t n, struct hdr_state *st,
                                   struct fc_http_req *req) {
    size_t i = 0, tok;
    do {
        size_t len = list_token(v, n, &i, &tok);
        if (len == 0)
            return fail(req, EBADMSG, "invalid Transfer-Encoding");
        bool chunked = len == 7 && ieq(v + tok, "chunked", 7);
        st->te_codings++;
        st->te_chunked += chunked;
        st->te_last_chunked = chunked;
    } while (i < n);
    if (v[n - 1] == ',')
        return fail(req, EBADMSG, "invalid Transfer-Encoding"); /* "chunked," */
    FC_ASSERT(st->te_codings > 0);
    return 0;
}

/* Connection: a list of tokens; "close" and "keep-alive" (any case) count,
 * others are ignored, as are empty elements (RFC 9110 §5.6.1).
 * Returns 0 or -EBADMSG. */
static int parse_connection(const char *v, size_t n, struct hdr_state *st,
                            struct fc_http_req *req) {
    size_t i = 0, tok;
    while (i < n) {
        size_t len = list_token(v, n, &i, &tok);
        if (len == 0 && tok < n && v[tok] != ',')
            return fail(req, EBADMSG, "invalid Connection");
        if (len == 5 && ieq(v + tok, "close", 5))
            st->conn_close = true;
        else if (len == 10 && ieq(v + tok, "keep-alive", 10))
            st->conn_keep_alive = true;
    }
    return 0;
}

/* Act on one header if it is one of the four that change framing or
 * connection handling. Returns 0 or -EBADMSG. */
static int apply_field(const struct fc_http_header *h, struct hdr_state *st,
                       struct fc_http_req *req) {
    const char *v = h->value;
    size_t n = h->value_len;
    switch (h->name_len) {
    case 6:
        if (!ieq(h->name, "expect", 6))
            return 0;
        if (n != 12 || !ieq(v, "100-continue", 12))
            return fail(req, EBADMSG, "unsupported Expect");
        st->expect_continue = true;
        return 0;
    case 10: return ieq(h->name, "connection", 10) ? parse_connection(v, n, st, req) : 0;
    case 14: return ieq(h->name, "content-length", 14) ? parse_content_length(v, n, req) : 0;
    case 17:
        return ieq(h->name, "transfer-encoding", 17) ? parse_transfer_encoding(v, n, st, req) : 0;
    }
    return 0;
}

/* Judge framing once every header is known (RFC 9112 §6.1, §6.3) and derive
 * keep_alive (§9.3) and expect_continue (RFC 9110 §10.1.1: ignored for 1.0).
 * Returns 0, -EBADMSG or -ENOTSUP. */
static int finish_head(const struct hdr_state *st, struct fc_http_req *req) {
    if (st->te_codings > 0) {
        if (req->minor_version == 0)
            return fail(req, EBADMSG, "Transfer-Encoding in HTTP/1.0");
        if (req->has_content_length)
            return fail(req, EBADMSG, "both Content-Length and Transfer-Encoding");
        if (!st->te_last_chunked)
            return fail(req, EBADMSG, "Transfer-Encoding does not end in chunked");
        if (st->te_chunked > 1)
            return fail(req, EBADMSG, "chunked applied more than once");
        if (st->te_codings > 1)
            return fail(req, ENOTSUP, "unsupported Transfer-Encoding");
        req->chunked = true;
    }
    if (req->minor_version == 1)
        req->keep_alive = !st->conn_close;
    else
        req->keep_alive = st->conn_keep_alive && !st->conn_close;
    req->expect_continue = st->expect_continue && req->minor_version == 1;
    FC_ASSERT(!(req->chunked && req->has_content_length));
    return 0;
}

/* Parse the complete head buf[start..end), which ends in "\r\n\r\n" (or the
 * caller lied about prev_len; the parse stays in bounds either way).
 * Returns end, or a negative errno from the helpers. */
static ssize_t parse_fields(const char *buf, const char *p, const char *e,
                            const struct fc_http_limits *limits, struct fc_http_req *req);

static ssize_t parse_head(const char *buf, size_t start, size_t end,
                          const struct fc_http_limits *limits, struct fc_http_req *req) {
    const char *p = buf + start, *e = buf + end;
    int rc = parse_request_line(&p, e, req);
    if (rc < 0)
        return rc;
    return parse_fields(buf, p, e, limits, req);
}

/* The header lines of a complete head from p to e (requests and responses
 * share them), then the framing verdict. Returns the head's end offset in
 * buf or a negative errno. */
static ssize_t parse_fields(const char *buf, const char *p, const char *e,
                            const struct fc_http_limits *limits, struct fc_http_req *req) {
    int rc;
    uint32_t max = limits->headers_max < req->headers_cap ? limits->headers_max : req->headers_cap;
    struct hdr_state st = {0};
    for (;;) {
        if (e - p >= 2 && p[0] == '\r' && p[1] == '\n')
            break;
        if (p < e && is_ows(*p))
            return fail(req, EBADMSG, "obs-fold not allowed");
        if (req->headers_count >= max)
            return fail(req, E2BIG, "too many headers");
        struct fc_http_header *h = &req->headers[req->headers_count];
        rc = parse_field_line(&p, e, h, req);
        if (rc < 0)
            return rc;
        req->headers_count++;
        rc = apply_field(h, &st, req);
        if (rc < 0)
            return rc;
    }
    rc = finish_head(&st, req);
    if (rc < 0)
        return rc;
    FC_ASSERT(p + 2 <= e);
    return (p + 2) - buf;
}

ssize_t fc_http_parse_request(const char *buf, size_t len, size_t prev_len,
                              const struct fc_http_limits *limits, struct fc_http_req *req) {
    FC_ASSERT(req != NULL && limits != NULL);
    FC_ASSERT(buf != NULL || len == 0);
    FC_ASSERT(req->headers != NULL || req->headers_cap == 0);
    struct fc_http_header *headers = req->headers;
    uint32_t cap = req->headers_cap;
    *req = (struct fc_http_req){.headers = headers, .headers_cap = cap};

    /* Nothing past head_bytes_max can be part of an acceptable head, so
     * look no further: a head still open at the limit is -E2BIG. */
    size_t lim = len < limits->head_bytes_max ? len : limits->head_bytes_max;
    ssize_t start = skip_empty_lines(buf, lim, req);
    if (start < 0)
        return start;
    /* The previous call saw no end and no bare LF in buf[0..prev_len). Both
     * are found by their LF, and find_head_end looks back from each LF, so
     * an end that was completed by the new bytes has its LF at prev_len or
     * later: only the new bytes need scanning. */
    size_t from = prev_len <= len ? prev_len : 0;
    if (from < (size_t)start)
        from = (size_t)start;
    ssize_t end = find_head_end(buf, (size_t)start, from, lim, req);
    if (end < 0)
        return end;
    if (end == 0)
        return len >= limits->head_bytes_max ? fail(req, E2BIG, "request head too large") : -EAGAIN;
    FC_ASSERT((size_t)end <= lim);
    ssize_t rc = parse_head(buf, (size_t)start, (size_t)end, limits, req);
    FC_ASSERT(rc < 0 || (rc > start && (size_t)rc <= (size_t)end));
    return rc;
}

const struct fc_http_header *fc_http_header_find(const struct fc_http_req *req, const char *name,
                                                 size_t name_len) {
    FC_ASSERT(req != NULL && (name != NULL || name_len == 0));
    FC_ASSERT(req->headers_count <= req->headers_cap);
    for (uint32_t i = 0; i < req->headers_count; i++) {
        const struct fc_http_header *h = &req->headers[i];
        if (h->name_len != name_len)
            continue;
        size_t j = 0;
        while (j < name_len && lower(h->name[j]) == lower(name[j]))
            j++;
        if (j == name_len)
            return h;
    }
    return NULL;
}

/* ---- chunked transfer coding (RFC 9112 §7.1) --------------------------- */

enum {
    CH_SIZE_START = 0, /* first hex digit of a chunk-size */
    CH_SIZE,           /* more hex digits */
    CH_SIZE_WS,        /* BWS after the size: only before ";" */
    CH_EXT,            /* chunk-ext bytes up to CR */
    CH_SIZE_LF,        /* LF ending the size line */
    CH_DATA,           /* chunk_left data bytes */
    CH_DATA_CR,        /* CR after the data */
    CH_DATA_LF,        /* LF after the data */
    CH_TRAILER_START,  /* start of a trailer line, or CR of the final CRLF */
    CH_TRAILER_NAME,   /* trailer field name up to ":" */
    CH_TRAILER_VALUE,  /* trailer value up to CR */
    CH_TRAILER_LF,     /* LF ending a trailer line */
    CH_END_LF,         /* LF of the final CRLF */
    CH_DONE,           /* body complete */
    CH_ERROR,          /* failed; stays failed */
};

/* Value of hex digit c, or -1. */
static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (lower((char)c) >= 'a' && lower((char)c) <= 'f')
        return lower((char)c) - 'a' + 10;
    return -1;
}

/* One byte of a chunk-size line. Returns -EAGAIN (go on), -EBADMSG or
 * -E2BIG; on the final LF checks the new chunk against the body limit. */
static int chunk_size_byte(struct fc_http_chunked *d, unsigned char c, uint64_t total,
                           uint64_t max) {
    if (++d->line_bytes > FC_HTTP_CHUNK_LINE_MAX)
        return -EBADMSG;
    int x = hexval(c);
    switch (d->state) {
    case CH_SIZE_START:
    case CH_SIZE:
        if (x >= 0) {
            if (d->chunk_left > (UINT64_MAX >> 4))
                return -EBADMSG; /* chunk size overflows 64 bits */
            d->chunk_left = d->chunk_left << 4 | (uint64_t)x;
            d->state = CH_SIZE;
            return -EAGAIN;
        }
        if (d->state == CH_SIZE_START)
            return -EBADMSG;
        /* what may follow the size may also follow BWS */
        __attribute__((fallthrough));
    case CH_SIZE_WS:
        if (is_ows((char)c))
            d->state = CH_SIZE_WS;
        else if (c == ';')
            d->state = CH_EXT;
        else if (c == '\r' && d->state == CH_SIZE)
            d->state = CH_SIZE_LF;
        else
            return -EBADMSG;
        return -EAGAIN;
    case CH_EXT:
        /* chunk-ext: tokens, "=", quoted strings, BWS; no CTL but HTAB */
        if (c == '\r')
            d->state = CH_SIZE_LF;
        else if (!(cls((char)c) & C_VALUE))
            return -EBADMSG;
        return -EAGAIN;
    case CH_SIZE_LF:
        if (c != '\n')
            return -EBADMSG;
        d->line_bytes = 0;
        if (d->chunk_left == 0) {
            d->state = CH_TRAILER_START;
            return -EAGAIN;
        }
        if (d->chunk_left > max - total)
            return -E2BIG;
        d->state = CH_DATA;
        return -EAGAIN;
    }
    FC_ASSERT(0 && "not a size-line state");
    return -EBADMSG;
}

/* One byte of the trailer section (field lines, then CRLF); trailers are
 * checked for shape and dropped. Returns -EAGAIN, 0 (body done) or -EBADMSG. */
static int chunk_trailer_byte(struct fc_http_chunked *d, unsigned char c) {
    if (++d->line_bytes > FC_HTTP_TRAILERS_MAX)
        return -EBADMSG;
    switch (d->state) {
    case CH_TRAILER_START:
        if (c == '\r')
            d->state = CH_END_LF;
        else if (cls((char)c) & C_TCHAR)
            d->state = CH_TRAILER_NAME;
        else
            return -EBADMSG; /* also obs-fold */
        return -EAGAIN;
    case CH_TRAILER_NAME:
        if (c == ':')
            d->state = CH_TRAILER_VALUE;
        else if (!(cls((char)c) & C_TCHAR))
            return -EBADMSG;
        return -EAGAIN;
    case CH_TRAILER_VALUE:
        if (c == '\r')
            d->state = CH_TRAILER_LF;
        else if (!(cls((char)c) & C_VALUE))
            return -EBADMSG;
        return -EAGAIN;
    case CH_TRAILER_LF:
    case CH_END_LF:
        if (c != '\n')
            return -EBADMSG;
        if (d->state == CH_END_LF) {
            d->state = CH_DONE;
            return 0;
        }
        d->state = CH_TRAILER_START;
        return -EAGAIN;
    }
    FC_ASSERT(0 && "not a trailer state");
    return -EBADMSG;
}

/* One framing byte in any state but CH_DATA, CH_DONE and CH_ERROR. */
static int chunk_byte(struct fc_http_chunked *d, unsigned char c, uint64_t total, uint64_t max) {
    switch (d->state) {
    case CH_DATA_CR:
        if (c != '\r')
            return -EBADMSG; /* missing CRLF after chunk data */
        d->state = CH_DATA_LF;
        return -EAGAIN;
    case CH_DATA_LF:
        if (c != '\n')
            return -EBADMSG;
        d->state = CH_SIZE_START;
        d->line_bytes = 0;
        return -EAGAIN;
    case CH_TRAILER_START:
    case CH_TRAILER_NAME:
    case CH_TRAILER_VALUE:
    case CH_TRAILER_LF:
    case CH_END_LF: return chunk_trailer_byte(d, c);
    default: return chunk_size_byte(d, c, total, max);
    }
}

ssize_t fc_http_chunked_decode(struct fc_http_chunked *dec, char *buf, size_t *len, uint64_t *total,
                               uint64_t body_bytes_max) {
    FC_ASSERT(dec != NULL && len != NULL && total != NULL);
    FC_ASSERT(buf != NULL || *len == 0);
    FC_ASSERT(dec->state <= CH_ERROR);
    size_t in = *len, r = 0, w = 0;
    *len = 0;
    if (dec->state == CH_DONE)
        return (ssize_t)in;
    if (dec->state == CH_ERROR)
        return -EBADMSG;
    FC_ASSERT(*total <= body_bytes_max);
    int rc = -EAGAIN;
    while (r < in && rc == -EAGAIN) {
        if (dec->state == CH_DATA) {
            size_t n = in - r;
            if (dec->chunk_left < n)
                n = (size_t)dec->chunk_left;
            if (w != r)
                memmove(buf + w, buf + r, n);
            w += n;
            r += n;
            dec->chunk_left -= n;
            *total += n;
            if (dec->chunk_left == 0)
                dec->state = CH_DATA_CR;
            continue;
        }
        rc = chunk_byte(dec, (unsigned char)buf[r++], *total, body_bytes_max);
    }
    FC_ASSERT(w <= r && r <= in && *total <= body_bytes_max);
    *len = w;
    if (rc == -EAGAIN || rc == 0)
        return rc == 0 ? (ssize_t)(in - r) : -EAGAIN;
    dec->state = CH_ERROR;
    return rc;
}

const char *fc_http_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large"; /* RFC 9110 §15.5.14; was "Payload Too Large" */
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request"; /* nginx's, not an RFC code */
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    }
    return "Unknown";
}

/* ---- responses (from instances) ------------------------------------------ */

/* Status line: HTTP-version SP 3DIGIT SP [reason-phrase] CRLF (RFC 9112 §4).
 * A missing SP after the code is tolerated (some servers send none). */
static int parse_status_line(const char **pp, const char *end, struct fc_http_resp *resp,
                             struct fc_http_req *req) {
    const char *p = *pp;
    if (end - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ' || p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9' || p[11] < '0' ||
        p[11] > '9')
        return fail(req, EBADMSG, "invalid status line");
    req->minor_version = resp->minor_version = (uint8_t)(p[7] - '0');
    resp->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    p += 12;
    if (p < end && *p == ' ')
        p++;
    while (p < end && (cls(*p) & C_VALUE))
        p++;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
        return fail(req, EBADMSG, "invalid reason phrase");
    *pp = p + 2;
    return 0;
}

ssize_t fc_http_parse_response(const char *buf, size_t len, const struct fc_http_limits *limits,
                               struct fc_http_resp *resp) {
    FC_ASSERT(resp != NULL && limits != NULL && (buf != NULL || len == 0));
    struct fc_http_req req = {.headers = resp->headers, .headers_cap = resp->headers_cap};
    *resp = (struct fc_http_resp){.headers = req.headers, .headers_cap = req.headers_cap};
    size_t lim = len < limits->head_bytes_max ? len : limits->head_bytes_max;
    ssize_t end = find_head_end(buf, 0, 0, lim, &req);
    if (end == 0)
        end = len >= limits->head_bytes_max ? fail(&req, E2BIG, "response head too large")
                                            : -EAGAIN;
    const char *p = buf;
    if (end > 0) {
        int rc = parse_status_line(&p, buf + end, resp, &req);
        end = rc < 0 ? rc : parse_fields(buf, p, buf + end, limits, &req);
    }
    resp->error = req.error;
    resp->headers_count = req.headers_count;
    resp->keep_alive = req.keep_alive;
    resp->chunked = req.chunked;
    resp->has_content_length = req.has_content_length;
    resp->content_length = req.content_length;
    FC_ASSERT(end < 0 || (size_t)end <= len);
    return end;
}
