/* fcrt.c — libfcrt: the custom-runtime HTTP server (see fcrt.h).
 *
 * One epoll loop, level-triggered. Each connection slot owns three growable
 * buffers, allocated on first use and reused for every request after:
 *
 *   in     received bytes; in[in_off..in_len) is not consumed yet. A request
 *          is handled straight from it (zero copy): the head is parsed in
 *          place, a chunked body is decoded in place behind its head.
 *   out    response heads and small bodies, out[out_off..out_len) unsent.
 *   rbody  the body a handler builds with fcrt_response_* (large bodies are
 *          sent from here, or from the handler's borrowed bytes, as the
 *          connection's one `tail` behind out).
 *   rhead  the headers a handler adds, as text.
 *
 * A connection stops parsing its pipeline while a tail is pending, while out
 * holds FCRT_OUT_PENDING_BYTES_MAX or more, or after a response that closes
 * it; it resumes when the output drains. So a tail is never overwritten, and
 * answers leave in request order.
 *
 * The parsed head (struct fc_http_req and its header array) lives once in
 * the server, not per connection: a head that arrives before its body is
 * parsed again when the body is complete (a few hundred ns), which saves
 * FCRT_HEADERS_MAX entries per connection.
 *
 * The only global is the wake eventfd of the signal handler: a signal handler
 * has no other way to reach the loop. */
#include "runtime-shim/fcrt.h"

#include "io/http.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Stays on in release builds: a broken invariant must crash the instance,
 * and the platform replaces it. */
#define FCRT_ASSERT(c) ((c) ? (void)0 : fcrt_assert_fail(#c, __FILE__, __LINE__))

static void __attribute__((noreturn))
fcrt_assert_fail(const char *what, const char *file, int line) {
    fprintf(stderr, "fcrt: %s:%d: assertion failed: %s\n", file, line, what);
    abort();
}

#define READ_CHUNK_BYTES (16u * 1024)    /* free space wanted before each read */
#define CHUNKED_SLACK_BYTES (64u * 1024) /* undecoded chunked bytes held at once */
#define ACCEPT_RETRY_MS 100              /* after EMFILE/ENFILE */
static_assert(READ_CHUNK_BYTES <= FCRT_KEEP_BYTES, "a fresh buffer holds one read");

enum conn_state { ST_HEAD, ST_BODY_CL, ST_BODY_CHUNKED };

struct conn {
    int fd;          /* -1: the slot is free */
    uint32_t events; /* current epoll interest */
    uint32_t next_free;
    enum conn_state state;
    bool close_after; /* close once out and tail are sent */
    bool peer_eof;

    char *in;
    size_t in_cap, in_off, in_len;
    size_t parse_prev; /* bytes the parser saw at the last -EAGAIN */
    size_t head_len;   /* while reading the body */
    uint64_t body_len; /* Content-Length, or decoded bytes so far */
    struct fc_http_chunked chunk;

    char *out;
    size_t out_cap, out_off, out_len;
    const char *tail; /* body sent after out; NULL when none */
    size_t tail_len, tail_off;
    void *tail_arg;
    fcrt_release_cb tail_release;

    char *rbody;
    size_t rbody_cap, rbody_len;
    const char *borrowed; /* the handler's borrowed body, if any */
    size_t borrowed_len;
    void *borrowed_arg;
    fcrt_release_cb borrowed_release;
    char *rhead;
    size_t rhead_cap, rhead_len;
};

struct srv {
    struct fcrt_options opts;
    int epfd, lfd, wakefd;
    bool accept_paused; /* slots or fds exhausted */
    bool accept_retry;  /* paused for EMFILE: retry at retry_at_ms */
    int64_t retry_at_ms;
    struct conn *conns; /* FCRT_CONNS_MAX slots */
    uint32_t free_head; /* FCRT_CONNS_MAX: none free */
    uint32_t conns_open;
    /* The last parsed head, and the connection it belongs to: valid while
     * that connection's input has not moved (conn_read clears it). */
    struct conn *req_owner;
    struct fc_http_req req;
    struct fc_http_header hdrs[FCRT_HEADERS_MAX];
};

static const struct fc_http_limits limits = {FCRT_HEAD_BYTES_MAX, FCRT_HEADERS_MAX};

/* Tags for epoll_event.data.ptr that are not connections. */
static char tag_listen, tag_wake;

/* ---- small helpers ------------------------------------------------------------------ */

/* Grow *buf to hold `need` bytes (at most `max`). Doubling, so appends are
 * amortized O(1). Returns 0 or -ENOMEM (buffer unchanged). */
static int buf_reserve(char **buf, size_t *cap, size_t need, size_t max) {
    FCRT_ASSERT(need <= max);
    if (need <= *cap)
        return 0;
    size_t n = *cap < 4096 ? 4096 : *cap;
    while (n < need)
        n = n > max / 2 ? max : n * 2;
    char *p = realloc(*buf, n);
    if (p == NULL)
        return -ENOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

static char *put(char *p, const char *s, size_t n) {
    if (n > 0) /* s may be NULL when n is 0 (an unused buffer) */
        memcpy(p, s, n);
    return p + n;
}
#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

static bool ieq(const char *a, const char *b) {
    return strcasecmp(a, b) == 0;
}

/* ---- responses (handler side) ------------------------------------------------------- */

static void borrowed_drop(struct conn *c) {
    if (c->borrowed != NULL && c->borrowed_release != NULL)
        c->borrowed_release(c->borrowed_arg);
    c->borrowed = NULL;
    c->borrowed_len = 0;
    c->borrowed_release = NULL;
}

int fcrt_response_set_body(struct fcrt_response *resp, const void *data, size_t len) {
    struct conn *c = resp->_conn;
    FCRT_ASSERT(c != NULL && (data != NULL || len == 0));
    borrowed_drop(c);
    c->rbody_len = 0;
    return fcrt_response_append(resp, data, len);
}

/* Turn a borrowed body into a copy in rbody, so it can be appended to. */
static int borrowed_to_copy(struct conn *c) {
    if (c->borrowed == NULL)
        return 0;
    int rc = buf_reserve(&c->rbody, &c->rbody_cap, c->borrowed_len, FCRT_RESP_BODY_BYTES_MAX);
    if (rc < 0)
        return rc;
    memcpy(c->rbody, c->borrowed, c->borrowed_len);
    c->rbody_len = c->borrowed_len;
    borrowed_drop(c);
    return 0;
}

int fcrt_response_append(struct fcrt_response *resp, const void *data, size_t len) {
    struct conn *c = resp->_conn;
    FCRT_ASSERT(c != NULL && (data != NULL || len == 0));
    size_t have = c->borrowed != NULL ? c->borrowed_len : c->rbody_len;
    if (len > FCRT_RESP_BODY_BYTES_MAX - have)
        return -EFBIG;
    int rc = borrowed_to_copy(c);
    if (rc == 0)
        rc = buf_reserve(&c->rbody, &c->rbody_cap, c->rbody_len + len, FCRT_RESP_BODY_BYTES_MAX);
    if (rc < 0)
        return rc;
    if (len > 0)
        memcpy(c->rbody + c->rbody_len, data, len);
    c->rbody_len += len;
    return 0;
}

int fcrt_response_printf(struct fcrt_response *resp, const char *fmt, ...) {
    struct conn *c = resp->_conn;
    FCRT_ASSERT(c != NULL && fmt != NULL);
    int rc = borrowed_to_copy(c);
    if (rc < 0)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    size_t room = c->rbody_cap - c->rbody_len;
    int n = vsnprintf(room > 0 ? c->rbody + c->rbody_len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n > FCRT_RESP_BODY_BYTES_MAX - c->rbody_len)
        return -EFBIG;
    if ((size_t)n >= room) { /* did not fit (vsnprintf needs room for its NUL) */
        rc = buf_reserve(&c->rbody, &c->rbody_cap, c->rbody_len + (size_t)n + 1,
                         FCRT_RESP_BODY_BYTES_MAX + 1);
        if (rc < 0)
            return rc;
        va_start(ap, fmt);
        vsnprintf(c->rbody + c->rbody_len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    c->rbody_len += (size_t)n;
    return n;
}

int fcrt_response_set_body_borrowed(struct fcrt_response *resp, const void *data, size_t len,
                                    void *arg, fcrt_release_cb release_cb) {
    struct conn *c = resp->_conn;
    FCRT_ASSERT(c != NULL && (data != NULL || len == 0));
    borrowed_drop(c);
    c->rbody_len = 0;
    if (len > FCRT_RESP_BODY_BYTES_MAX)
        return -EFBIG;
    c->borrowed = data != NULL ? data : "";
    c->borrowed_len = len;
    c->borrowed_arg = arg;
    c->borrowed_release = release_cb;
    return 0;
}

static bool is_tchar(unsigned char ch) {
    return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
           (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

int fcrt_response_add_header(struct fcrt_response *resp, const char *name, const char *value) {
    struct conn *c = resp->_conn;
    FCRT_ASSERT(c != NULL && name != NULL && value != NULL);
    size_t nl = strlen(name), vl = strlen(value);
    if (nl == 0 || ieq(name, "content-length") || ieq(name, "transfer-encoding") ||
        ieq(name, "connection"))
        return -EINVAL;
    for (size_t i = 0; i < nl; i++)
        if (!is_tchar((unsigned char)name[i]))
            return -EINVAL;
    if (strpbrk(value, "\r\n") != NULL)
        return -EINVAL;
    size_t need = c->rhead_len + nl + vl + 4;
    if (need > FCRT_RESP_HEAD_BYTES_MAX)
        return -E2BIG;
    int rc = buf_reserve(&c->rhead, &c->rhead_cap, need, FCRT_RESP_HEAD_BYTES_MAX);
    if (rc < 0)
        return rc;
    char *p = c->rhead + c->rhead_len;
    p = put(p, name, nl);
    p = PUT_LIT(p, ": ");
    p = put(p, value, vl);
    p = PUT_LIT(p, "\r\n");
    c->rhead_len = (size_t)(p - c->rhead);
    return 0;
}

/* ---- requests (handler side) -------------------------------------------------------- */

const char *fcrt_request_header(const struct fcrt_request *req, const char *name) {
    FCRT_ASSERT(req != NULL && req->_http != NULL && name != NULL);
    const struct fc_http_header *h = fc_http_header_find(req->_http, name, strlen(name));
    return h != NULL ? h->value : NULL;
}

size_t fcrt_request_header_count(const struct fcrt_request *req) {
    FCRT_ASSERT(req != NULL && req->_http != NULL);
    return ((const struct fc_http_req *)req->_http)->headers_count;
}

int fcrt_request_header_at(const struct fcrt_request *req, size_t i, const char **name,
                           const char **value) {
    FCRT_ASSERT(req != NULL && req->_http != NULL && name != NULL && value != NULL);
    const struct fc_http_req *h = req->_http;
    if (i >= h->headers_count)
        return -ENOENT;
    *name = h->headers[i].name;
    *value = h->headers[i].value;
    return 0;
}

/* ---- the response writer ------------------------------------------------------------ */

/* Move the unsent part of out to its front, so a slow reader that never
 * lets out drain completely cannot make it grow past the bounds. */
static void out_compact(struct conn *c) {
    if (c->out_off == 0)
        return;
    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
    c->out_len -= c->out_off;
    c->out_off = 0;
}

/* Append raw bytes to out. Returns 0 or -ENOMEM. out is bounded by the
 * pipeline backpressure: at most FCRT_OUT_PENDING_BYTES_MAX plus one head and
 * one inline body. */
static int out_append(struct conn *c, const char *s, size_t n) {
    out_compact(c);
    int rc = buf_reserve(&c->out, &c->out_cap, c->out_len + n,
                         2 * FCRT_OUT_PENDING_BYTES_MAX + FCRT_HEAD_BYTES_MAX);
    if (rc < 0)
        return rc;
    put(c->out + c->out_len, s, n);
    c->out_len += n;
    return 0;
}

struct answer {
    int status;
    const char *content_type; /* may be NULL */
    bool failed, head_only, close, http10_keep_alive;
    const char *body; /* borrowed or rbody */
    size_t body_len;
};

/* Write the status line and headers of `a` into out. Returns 0 or -ENOMEM. */
static int answer_head(struct conn *c, const struct answer *a) {
    out_compact(c);
    const char *reason = fc_http_reason(a->status);
    size_t ct_len = a->content_type != NULL ? strlen(a->content_type) : 0;
    size_t need = 160 + strlen(reason) + ct_len + c->rhead_len;
    int rc = buf_reserve(&c->out, &c->out_cap, c->out_len + need,
                         2 * FCRT_OUT_PENDING_BYTES_MAX + FCRT_HEAD_BYTES_MAX);
    if (rc < 0)
        return rc;
    char *p = c->out + c->out_len;
    p = PUT_LIT(p, "HTTP/1.1 ");
    p = put_u64(p, (uint64_t)a->status);
    *p++ = ' ';
    p = put(p, reason, strlen(reason));
    p = PUT_LIT(p, "\r\n");
    if (a->content_type != NULL) {
        p = PUT_LIT(p, "Content-Type: ");
        p = put(p, a->content_type, ct_len);
        p = PUT_LIT(p, "\r\n");
    }
    p = put(p, c->rhead, c->rhead_len);
    if (a->failed)
        p = PUT_LIT(p, "x-fc-status: 404\r\n");
    /* RFC 9110 §8.6: no Content-Length in 1xx, 204 and 304 answers. */
    if (a->status != 204 && a->status != 304) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_u64(p, a->body_len);
        p = PUT_LIT(p, "\r\n");
    }
    if (a->close)
        p = PUT_LIT(p, "Connection: close\r\n");
    else if (a->http10_keep_alive)
        p = PUT_LIT(p, "Connection: keep-alive\r\n");
    p = PUT_LIT(p, "\r\n");
    c->out_len = (size_t)(p - c->out);
    FCRT_ASSERT(c->out_len <= c->out_cap);
    return 0;
}

/* Queue the answer: head into out, then the body inline (small) or as the
 * tail. Consumes the borrowed body (released now, or when the tail is sent).
 * Returns 0 or -ENOMEM (the connection must close). */
static int answer_queue(struct conn *c, const struct answer *a) {
    FCRT_ASSERT(c->tail == NULL);
    int rc = answer_head(c, a);
    bool no_body = a->head_only || a->status == 204 || a->status == 304;
    if (rc == 0 && !no_body && a->body_len <= FCRT_INLINE_BODY_BYTES_MAX)
        rc = out_append(c, a->body, a->body_len);
    else if (rc == 0 && !no_body) {
        c->tail = a->body;
        c->tail_len = a->body_len;
        c->tail_off = 0;
        if (c->borrowed != NULL) { /* the tail now owns the release */
            c->tail_arg = c->borrowed_arg;
            c->tail_release = c->borrowed_release;
            c->borrowed = NULL;
            c->borrowed_release = NULL;
        }
    }
    borrowed_drop(c);
    if (a->close)
        c->close_after = true;
    return rc;
}

static void tail_done(struct conn *c) {
    if (c->tail != NULL && c->tail_release != NULL)
        c->tail_release(c->tail_arg);
    c->tail = NULL;
    c->tail_release = NULL;
    c->tail_len = c->tail_off = 0;
}

/* Answer a protocol error with a short text body and close afterwards.
 * Returns 0 or -ENOMEM. */
static int answer_error(struct conn *c, int status, const char *why) {
    c->rhead_len = 0;
    c->rbody_len = 0;
    borrowed_drop(c);
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "%s\n", why);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
    struct answer a = {.status = status,
                       .content_type = "text/plain",
                       .close = true,
                       .body = msg,
                       .body_len = len};
    return answer_queue(c, &a);
}

/* ---- dispatch ----------------------------------------------------------------------- */

struct kind_name {
    const char *path;
    enum fcrt_kind kind;
    enum fc_http_method method; /* for the fallback on the request line */
};
static const struct kind_name kinds[] = {
    {"/invoke", FCRT_INVOKE, FC_HTTP_POST},
    {"/http-invoke", FCRT_HTTP_INVOKE, FC_HTTP_OTHER},
    {"/initialize", FCRT_INITIALIZE, FC_HTTP_POST},
    {"/pre-stop", FCRT_PRE_STOP, FC_HTTP_GET},
    {"/pre-freeze", FCRT_PRE_FREEZE, FC_HTTP_GET},
};
#define KINDS_COUNT (sizeof(kinds) / sizeof(kinds[0]))

/* Kind from x-fc-control-path; without one (or an unknown one), from the
 * method and the exact target. */
static const struct kind_name *kind_of(const struct fc_http_req *r) {
    const struct fc_http_header *h = fc_http_header_find(r, "x-fc-control-path", 17);
    for (size_t i = 0; h != NULL && i < KINDS_COUNT; i++)
        if (h->value_len == strlen(kinds[i].path) &&
            memcmp(h->value, kinds[i].path, h->value_len) == 0)
            return &kinds[i];
    for (size_t i = 0; i < KINDS_COUNT; i++)
        if (kinds[i].method != FC_HTTP_OTHER && r->method_id == kinds[i].method &&
            r->target_len == strlen(kinds[i].path) &&
            memcmp(r->target, kinds[i].path, r->target_len) == 0)
            return &kinds[i];
    return &kinds[1];
}

/* NUL-terminate the method, target and header names and values in place.
 * Each is followed by a delimiter byte inside the head (SP, ':', OWS or CR),
 * which the parse no longer needs. */
static void head_terminate(const struct fc_http_req *r) {
    ((char *)r->method)[r->method_len] = '\0';
    ((char *)r->target)[r->target_len] = '\0';
    for (uint32_t i = 0; i < r->headers_count; i++) {
        ((char *)r->headers[i].name)[r->headers[i].name_len] = '\0';
        ((char *)r->headers[i].value)[r->headers[i].value_len] = '\0';
    }
}

static void request_fill(struct fcrt_request *q, const struct fc_http_req *r,
                         const struct kind_name *k, const char *body, size_t body_len) {
    const char *qm = memchr(r->target, '?', r->target_len);
    const struct fc_http_header *id = fc_http_header_find(r, "x-fc-request-id", 15);
    *q = (struct fcrt_request){
        .kind = k->kind,
        .control_path = k->path,
        .method = r->method,
        .target = r->target,
        .target_len = r->target_len,
        .path_len = qm != NULL ? (size_t)(qm - r->target) : r->target_len,
        .query = qm != NULL ? qm + 1 : "",
        .body = body,
        .body_len = body_len,
        .request_id = id != NULL ? id->value : "",
        ._http = r,
    };
}

static fcrt_handler_cb handler_of(const struct fcrt_options *o, enum fcrt_kind k) {
    switch (k) {
    case FCRT_INVOKE: return o->invoke_cb;
    case FCRT_HTTP_INVOKE: return o->http_cb;
    case FCRT_INITIALIZE: return o->initialize_cb;
    case FCRT_PRE_STOP: return o->pre_stop_cb;
    case FCRT_PRE_FREEZE: return o->pre_freeze_cb;
    }
    return NULL;
}

/* The FC log markers (CONTRACT.md §6.5). stdout is line-buffered, so each
 * marker leaves in one write, after whatever the handler printed. */
static void marker(enum fcrt_kind k, bool end, bool failed, const char *id) {
    const char *what = k == FCRT_INITIALIZE ? "Initialize" : "Invoke";
    if (k != FCRT_INVOKE && k != FCRT_HTTP_INVOKE && k != FCRT_INITIALIZE)
        return;
    fflush(stdout); /* a handler's unfinished line must not swallow ours */
    if (!end)
        printf("FC %s Start RequestId: %s\n", what, id);
    else
        printf("FC %s End RequestId: %s%s\n", what, id,
               failed ? ", Error: Unhandled function error" : "");
}

/* Run the handler for the request whose head is s->req and whose body is
 * body[0..body_len) (writable, with one writable byte after it), and queue
 * its answer. Returns 0 or -ENOMEM. */
static int dispatch(struct srv *s, struct conn *c, char *body, size_t body_len) {
    const struct fc_http_req *r = &s->req;
    const struct kind_name *k = kind_of(r);
    head_terminate(r);
    char saved = body[body_len]; /* may be the next pipelined request's first byte */
    body[body_len] = '\0';
    struct fcrt_request q;
    request_fill(&q, r, k, body, body_len);
    struct fcrt_response resp = {.status = 200, ._conn = c};
    c->rbody_len = 0;
    c->rhead_len = 0;
    FCRT_ASSERT(c->borrowed == NULL && c->tail == NULL);

    marker(k->kind, false, false, q.request_id);
    fcrt_handler_cb cb = handler_of(&s->opts, k->kind);
    if (cb != NULL)
        cb(&q, &resp, s->opts.ctx);
    marker(k->kind, true, resp.failed, q.request_id);
    body[body_len] = saved;

    struct answer a = {
        .status = resp.status >= 200 && resp.status <= 599 ? resp.status : 500,
        .content_type = resp.content_type,
        .failed = resp.failed,
        .head_only = r->method_id == FC_HTTP_HEAD,
        .close = !r->keep_alive,
        .http10_keep_alive = r->keep_alive && r->minor_version == 0,
        .body = c->borrowed != NULL ? c->borrowed : c->rbody,
        .body_len = c->borrowed != NULL ? c->borrowed_len : c->rbody_len,
    };
    if (a.failed && a.status == 200)
        a.status = 404;
    FCRT_ASSERT(a.content_type == NULL || strpbrk(a.content_type, "\r\n") == NULL);
    return answer_queue(c, &a);
}

/* ---- the request reader ------------------------------------------------------------- */

static void request_done(struct conn *c, size_t consumed) {
    c->in_off += consumed;
    FCRT_ASSERT(c->in_off <= c->in_len);
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    c->state = ST_HEAD;
    c->parse_prev = 0;
}

static int parse_error(struct conn *c, ssize_t rc, const char *why) {
    int status = rc == -E2BIG ? 431 : rc == -ENOTSUP ? 501 : 400;
    return answer_error(c, status, why != NULL ? why : "bad request");
}

/* Parse the head at the front of the unconsumed input. Returns 1 when the
 * connection's state moved on, 0 when more input is needed, or -ENOMEM. */
static int step_head(struct srv *s, struct conn *c) {
    char *base = c->in + c->in_off;
    size_t avail = c->in_len - c->in_off;
    s->req.headers = s->hdrs;
    s->req.headers_cap = FCRT_HEADERS_MAX;
    ssize_t n = fc_http_parse_request(base, avail, c->parse_prev, &limits, &s->req);
    if (n == -EAGAIN) {
        c->parse_prev = avail;
        return 0;
    }
    if (n < 0)
        return parse_error(c, n, s->req.error) < 0 ? -ENOMEM : 1;
    c->head_len = (size_t)n;
    s->req_owner = c;
    c->state = s->req.chunked ? ST_BODY_CHUNKED : ST_BODY_CL;
    c->body_len = s->req.has_content_length ? s->req.content_length : 0;
    c->chunk = (struct fc_http_chunked){0};
    if (c->body_len > FCRT_BODY_BYTES_MAX)
        return answer_error(c, 413, "request body too large") < 0 ? -ENOMEM : 1;
    bool body_done = c->state == ST_BODY_CL && avail - (size_t)n >= c->body_len;
    if (s->req.expect_continue && !body_done &&
        out_append(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
        return -ENOMEM;
    return 1;
}

/* The server's parsed head must be this connection's before dispatch. */
static void head_refresh(struct srv *s, struct conn *c) {
    if (s->req_owner == c)
        return;
    s->req.headers = s->hdrs;
    s->req.headers_cap = FCRT_HEADERS_MAX;
    ssize_t n = fc_http_parse_request(c->in + c->in_off, c->head_len, 0, &limits, &s->req);
    FCRT_ASSERT(n == (ssize_t)c->head_len); /* the same bytes parsed the same before */
    s->req_owner = c;
}

/* Wait for a Content-Length body, then dispatch. Returns like step_head. */
static int step_body_cl(struct srv *s, struct conn *c) {
    size_t need = c->head_len + (size_t)c->body_len;
    if (c->in_len - c->in_off < need)
        return 0;
    head_refresh(s, c);
    char *base = c->in + c->in_off;
    FCRT_ASSERT(c->in_off + need < c->in_cap); /* room for the body's NUL */
    int rc = dispatch(s, c, base + c->head_len, (size_t)c->body_len);
    s->req_owner = NULL; /* dispatch cut the head up with NULs */
    request_done(c, need);
    return rc < 0 ? rc : 1;
}

/* Decode what arrived of a chunked body in place, right behind the decoded
 * part (so the decoded body is contiguous from head_len), and dispatch at
 * its end. Returns like step_head. */
static int step_body_chunked(struct srv *s, struct conn *c) {
    char *base = c->in + c->in_off;
    size_t raw_at = c->head_len + (size_t)c->body_len;
    size_t raw_len = c->in_len - c->in_off - raw_at;
    if (raw_len == 0)
        return 0;
    size_t len = raw_len;
    uint64_t total = c->body_len;
    ssize_t rc =
        fc_http_chunked_decode(&c->chunk, base + raw_at, &len, &total, FCRT_BODY_BYTES_MAX);
    FCRT_ASSERT(total == c->body_len + len);
    c->body_len = total;
    if (rc == -EAGAIN) { /* all raw bytes consumed; drop them */
        c->in_len = c->in_off + c->head_len + (size_t)c->body_len;
        return 0;
    }
    if (rc < 0) {
        int st = rc == -E2BIG ? 413 : 400;
        return answer_error(c, st, rc == -E2BIG ? "request body too large" : "bad chunked body") < 0
                   ? -ENOMEM
                   : 1;
    }
    size_t next = raw_at + raw_len - (size_t)rc;   /* the pipelined rest starts here */
    FCRT_ASSERT(c->head_len + c->body_len < next); /* the final chunk lay between */
    head_refresh(s, c);
    int drc = dispatch(s, c, base + c->head_len, (size_t)c->body_len);
    s->req_owner = NULL;
    request_done(c, next);
    return drc < 0 ? drc : 1;
}

static bool conn_paused(const struct conn *c) {
    return c->close_after || c->tail != NULL ||
           c->out_len - c->out_off >= FCRT_OUT_PENDING_BYTES_MAX;
}

/* Handle every complete request in the input, in order, until more input is
 * needed or the connection pauses. Returns 0 or -ENOMEM (close it). */
static int conn_process(struct srv *s, struct conn *c) {
    for (;;) { /* ends: each turn consumes input or returns */
        if (conn_paused(c))
            return 0;
        int rc;
        switch (c->state) {
        case ST_HEAD: rc = c->in_len > c->in_off ? step_head(s, c) : 0; break;
        case ST_BODY_CL: rc = step_body_cl(s, c); break;
        case ST_BODY_CHUNKED: rc = step_body_chunked(s, c); break;
        default: FCRT_ASSERT(!"conn state"); return -EINVAL;
        }
        if (rc <= 0)
            return rc;
    }
}

/* ---- connections -------------------------------------------------------------------- */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void accept_pause(struct srv *s, bool retry) {
    struct epoll_event ev = {.events = 0, .data.ptr = &tag_listen};
    if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev) == 0) {
        s->accept_paused = true;
        s->accept_retry = retry;
        s->retry_at_ms = now_ms() + ACCEPT_RETRY_MS;
    }
}

static void accept_resume(struct srv *s) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &tag_listen};
    if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev) == 0)
        s->accept_paused = s->accept_retry = false;
}

static void buf_trim(char **buf, size_t *cap) {
    if (*cap > FCRT_KEEP_BYTES) {
        free(*buf);
        *buf = NULL;
        *cap = 0;
    }
}

static void conn_close(struct srv *s, struct conn *c) {
    FCRT_ASSERT(c->fd >= 0 && s->conns_open > 0);
    if (s->req_owner == c)
        s->req_owner = NULL;
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    tail_done(c);
    borrowed_drop(c);
    buf_trim(&c->in, &c->in_cap);
    buf_trim(&c->out, &c->out_cap);
    buf_trim(&c->rbody, &c->rbody_cap);
    buf_trim(&c->rhead, &c->rhead_cap);
    c->next_free = s->free_head;
    s->free_head = (uint32_t)(c - s->conns);
    s->conns_open--;
    if (s->accept_paused && !s->accept_retry)
        accept_resume(s);
}

/* Send out, then the tail. Returns 0 (all sent or EAGAIN) or -errno. */
static int conn_flush(struct conn *c) {
    while (c->out_off < c->out_len || c->tail != NULL) {
        struct iovec iov[2];
        int n = 0;
        if (c->out_off < c->out_len)
            iov[n++] = (struct iovec){c->out + c->out_off, c->out_len - c->out_off};
        if (c->tail != NULL)
            iov[n++] = (struct iovec){(void *)(c->tail + c->tail_off), c->tail_len - c->tail_off};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        size_t k = (size_t)w, o = c->out_len - c->out_off;
        c->out_off += k < o ? k : o;
        k = k < o ? 0 : k - o;
        if (c->tail != NULL) {
            c->tail_off += k;
            if (c->tail_off == c->tail_len)
                tail_done(c);
        }
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* Read what fits. Returns 1 (read some), 0 (nothing now), or -errno. */
static int conn_read(struct srv *s, struct conn *c) {
    if (s->req_owner == c) /* the input may move */
        s->req_owner = NULL;
    size_t have = c->in_len - c->in_off;
    if (c->in_off > 0 && have > 0)
        memmove(c->in, c->in + c->in_off, have);
    c->in_off = 0;
    c->in_len = have;
    size_t want = have + READ_CHUNK_BYTES, max = FCRT_HEAD_BYTES_MAX;
    if (c->state == ST_BODY_CL && want < c->head_len + c->body_len)
        want = c->head_len + (size_t)c->body_len;
    if (c->state != ST_HEAD)
        max = c->head_len + FCRT_BODY_BYTES_MAX + CHUNKED_SLACK_BYTES;
    if (want > max)
        want = max;
    if (buf_reserve(&c->in, &c->in_cap, want + 1, max + 1) < 0) /* +1: a body's NUL */
        return -ENOMEM;
    size_t room = c->in_cap - 1 - c->in_len;
    FCRT_ASSERT(room > 0);
    ssize_t r = read(c->fd, c->in + c->in_len, room);
    if (r < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
    if (r == 0) {
        c->peer_eof = true;
        return 0;
    }
    c->in_len += (size_t)r;
    return 1;
}

/* Set the epoll interest from the state. Returns 0 or -errno. */
static int conn_arm(struct srv *s, struct conn *c) {
    uint32_t ev = 0;
    if (!conn_paused(c) && !c->peer_eof)
        ev |= EPOLLIN;
    if (c->out_len > c->out_off || c->tail != NULL)
        ev |= EPOLLOUT;
    if (ev == c->events)
        return 0;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &e) < 0)
        return -errno;
    c->events = ev;
    return 0;
}

/* Close after the last answer is out: shut down writing, drop what the
 * client still sent (so close sends FIN, not RST, over our answer). */
static void conn_finish(struct srv *s, struct conn *c) {
    shutdown(c->fd, SHUT_WR);
    char sink[4096];
    while (read(c->fd, sink, sizeof(sink)) > 0)
        ;
    conn_close(s, c);
}

/* One readiness event on a connection: read, handle, write, re-arm. */
static void conn_event(struct srv *s, struct conn *c, uint32_t events) {
    int rc = 0;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !conn_paused(c) && !c->peer_eof)
        rc = conn_read(s, c);
    for (;;) { /* ends: a turn that leaves output pending or needs input breaks */
        if (rc < 0)
            break;
        rc = conn_process(s, c);
        bool was_paused = conn_paused(c);
        if (rc == 0)
            rc = conn_flush(c);
        bool pending = c->out_len > c->out_off || c->tail != NULL;
        if (rc < 0 || pending || c->close_after || !was_paused)
            break;
    }
    bool idle = c->out_len == c->out_off && c->tail == NULL;
    if (rc < 0)
        conn_close(s, c);
    else if (idle && (c->close_after || c->peer_eof))
        conn_finish(s, c);
    else if (conn_arm(s, c) < 0)
        conn_close(s, c);
}

static void accept_all(struct srv *s) {
    while (s->free_head != FCRT_CONNS_MAX) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_pause(s, true);
            return; /* EAGAIN, or an aborted connection: nothing to do */
        }
        int one = 1; /* small answers must not wait for delayed ACKs */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = &s->conns[s->free_head];
        FCRT_ASSERT(c->fd == -1);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            continue;
        }
        s->free_head = c->next_free;
        s->conns_open++;
        *c = (struct conn){.fd = fd,
                           .events = EPOLLIN,
                           .in = c->in,
                           .in_cap = c->in_cap,
                           .out = c->out,
                           .out_cap = c->out_cap,
                           .rbody = c->rbody,
                           .rbody_cap = c->rbody_cap,
                           .rhead = c->rhead,
                           .rhead_cap = c->rhead_cap};
    }
    accept_pause(s, false);
}

/* ---- setup and the loop ------------------------------------------------------------- */

/* The signal handler's way into the loop; see the file comment. */
static volatile int wake_fd = -1;

static void on_signal(int sig) {
    (void)sig;
    int saved = errno;
    uint64_t one = 1;
    if (wake_fd >= 0 && write(wake_fd, &one, sizeof(one)) < 0) {
        /* the counter is full: a wake is already pending */
    }
    errno = saved;
}

static int port_parse(const char *v) {
    char *end;
    errno = 0;
    long p = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || p < 1 || p > 65535)
        return -EINVAL;
    return (int)p;
}

int fcrt_port(const struct fcrt_options *opts) {
    if (opts != NULL && opts->port != 0)
        return opts->port;
    const char *v = getenv("FC_SERVER_PORT");
    if (v == NULL || *v == '\0')
        v = getenv("FC_CUSTOM_LISTEN_PORT");
    if (v == NULL || *v == '\0')
        return 9000;
    return port_parse(v);
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static int srv_open(struct srv *s, const struct fcrt_options *opts) {
    *s = (struct srv){.opts = *opts, .epfd = -1, .lfd = -1, .wakefd = -1};
    int port = fcrt_port(opts);
    if (port < 0)
        return port;
    s->conns = calloc(FCRT_CONNS_MAX, sizeof(*s->conns));
    if (s->conns == NULL)
        return -ENOMEM;
    for (uint32_t i = 0; i < FCRT_CONNS_MAX; i++)
        s->conns[i] = (struct conn){.fd = -1, .next_free = i + 1};
    s->free_head = 0;
    s->lfd = listen_on(port);
    if (s->lfd < 0)
        return s->lfd;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->epfd < 0 || s->wakefd < 0)
        return -errno;
    struct epoll_event l = {.events = EPOLLIN, .data.ptr = &tag_listen};
    struct epoll_event w = {.events = EPOLLIN, .data.ptr = &tag_wake};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &l) < 0 ||
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &w) < 0)
        return -errno;
    return 0;
}

static void srv_close(struct srv *s) {
    for (uint32_t i = 0; s->conns != NULL && i < FCRT_CONNS_MAX; i++) {
        struct conn *c = &s->conns[i];
        if (c->fd >= 0)
            conn_close(s, c);
        free(c->in);
        free(c->out);
        free(c->rbody);
        free(c->rhead);
    }
    free(s->conns);
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->wakefd >= 0)
        close(s->wakefd);
}

static void srv_loop(struct srv *s) {
    struct epoll_event evs[FCRT_EVENTS_MAX];
    for (;;) { /* endless until a signal wakes us */
        int n = epoll_wait(s->epfd, evs, FCRT_EVENTS_MAX, s->accept_retry ? ACCEPT_RETRY_MS : -1);
        if (n < 0 && errno != EINTR)
            return;
        if (s->accept_retry && now_ms() >= s->retry_at_ms)
            accept_resume(s);
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &tag_wake)
                return;
            if (p == &tag_listen)
                accept_all(s);
            else if (((struct conn *)p)->fd >= 0)
                conn_event(s, p, evs[i].events);
        }
    }
}

int fcrt_serve(const struct fcrt_options *opts) {
    FCRT_ASSERT(opts != NULL);
    fflush(stdout);
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct srv *s = malloc(sizeof(*s)); /* ~8 KB of headers: keep it off the stack */
    if (s == NULL)
        return -ENOMEM;
    int rc = srv_open(s, opts);
    if (rc < 0) {
        srv_close(s);
        free(s);
        return rc;
    }
    /* SA_RESTART: a handler's own blocking calls are not cut short by EINTR;
     * epoll_wait is never restarted, and the eventfd wakes it anyway. */
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART}, old_term, old_int;
    sigemptyset(&sa.sa_mask);
    wake_fd = s->wakefd;
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGINT, &sa, &old_int);
    if (opts->runtime_name != NULL)
        printf("FunctionCompute %s runtime inited.\n", opts->runtime_name);
    srv_loop(s);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    wake_fd = -1;
    srv_close(s);
    free(s);
    fflush(stdout);
    return 0;
}
