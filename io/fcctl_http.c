/* fcctl_http.c — one HTTP/1.1 exchange between fcctl and fcd, signed with
 * the FC scheme (core/auth.h), and the reports of its failures.
 *
 * Each exchange opens a new TCP connection, sends `Connection: close` and
 * reads the answer with fcd's own response parser (io/http.h) and chunked
 * decoder. The socket is blocking: connect runs non-blocking under poll()
 * so that it has a timeout, then SO_RCVTIMEO/SO_SNDTIMEO bound every wait
 * for bytes by c->timeout_ms. A command makes a handful of calls, so a
 * connection per call costs nothing that matters and keeps the state
 * simple; `logs -f` polls every 500 ms, which is a connection per poll. */
#include "io/fcctl.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/assert.h"

/* Headers fcctl itself signs and sends besides the caller's extras: Date,
 * x-fc-account-id, Content-Type. */
#define SIGNED_HEADERS_MAX (FCCTL_REQ_HEADERS_MAX + 3u)
/* "FC " id ":" signature */
#define AUTHORIZATION_BYTES_MAX (3u + FCCTL_CRED_BYTES_MAX + 1u + FC_AUTH_SIGNATURE_LEN + 1u)
#define RECV_CHUNK_BYTES 65536u

static void set_error(struct fcctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct fcctl *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
}

/* set_error, then return rc (for one-line error returns). */
static int fail(struct fcctl *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct fcctl *c, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- endpoint ---------------------------------------------------------------------- */

/* Split "HOST[:PORT]" / "[V6][:PORT]" (already without scheme and path). */
static int split_authority(struct fcctl *c, const char *s, size_t len) {
    const char *host = s, *port = NULL;
    size_t host_len;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return fail(c, -EINVAL, "endpoint: '[' without ']'");
        host = s + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < s + len && close[1] != ':')
            return fail(c, -EINVAL, "endpoint: unexpected text after ']'");
        port = close + 1 < s + len ? close + 2 : NULL;
    } else {
        const char *colon = memchr(s, ':', len);
        host_len = colon ? (size_t)(colon - s) : len;
        port = colon ? colon + 1 : NULL;
    }
    if (host_len == 0 || host_len > FCCTL_HOST_BYTES_MAX)
        return fail(c, -EINVAL, "endpoint: missing or over-long host");
    uint64_t p = 80;
    if (port != NULL) {
        char digits[8] = "";
        size_t n = (size_t)(s + len - port);
        if (n == 0 || n >= sizeof(digits))
            return fail(c, -EINVAL, "endpoint: bad port");
        memcpy(digits, port, n);
        if (fcctl_parse_u64(digits, 1, 65535, &p) < 0)
            return fail(c, -EINVAL, "endpoint: bad port '%s'", digits);
    }
    memcpy(c->host, host, host_len);
    c->host[host_len] = '\0';
    snprintf(c->port, sizeof(c->port), "%u", (unsigned)p);
    snprintf(c->authority, sizeof(c->authority), "%.*s", (int)len, s);
    return 0;
}

int fcctl_endpoint_set(struct fcctl *c, const char *url) {
    const char *s = url;
    const char *sep = strstr(s, "://");
    if (sep != NULL) {
        size_t scheme_len = (size_t)(sep - s);
        if (scheme_len == 5 && strncasecmp(s, "https", 5) == 0)
            return fail(c, -EINVAL, "endpoint %s: https is not supported (fcctl speaks plain HTTP)",
                        url);
        if (scheme_len != 4 || strncasecmp(s, "http", 4) != 0)
            return fail(c, -EINVAL, "endpoint %s: expected http://HOST:PORT", url);
        s = sep + 3;
    }
    size_t len = strcspn(s, "/?#");
    if (s[len] != '\0' && strcmp(s + len, "/") != 0)
        return fail(c, -EINVAL, "endpoint %s: a path is not supported", url);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == '@' || (unsigned char)s[i] >= 0x7f)
            return fail(c, -EINVAL, "endpoint %s: unexpected character in the host", url);
    return split_authority(c, s, len);
}

/* ---- request ----------------------------------------------------------------------- */

static bool value_ok(const char *v) {
    for (; *v != '\0'; v++)
        if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
            return false;
    return true;
}

static struct fc_http_header hdr(const char *name, const char *value) {
    return (struct fc_http_header){name, value, (uint32_t)strlen(name), (uint32_t)strlen(value)};
}

/* The Authorization value for req's headers into out ("" when unsigned). */
static int sign(struct fcctl *c, const struct fcctl_request *req, const struct fc_http_header *h,
                uint32_t n, char out[AUTHORIZATION_BYTES_MAX]) {
    out[0] = '\0';
    if (c->key_id[0] == '\0')
        return 0;
    if (c->scratch == NULL && (c->scratch = malloc(sizeof(*c->scratch))) == NULL)
        return fail(c, -ENOMEM, "out of memory");
    struct fc_auth_request ar = {req->method,
                                 (uint32_t)strlen(req->method),
                                 (uint32_t)strlen(req->target),
                                 req->target,
                                 h,
                                 n};
    int rc = fc_auth_sign(&ar, c->key_id, c->secret, c->scratch, out, AUTHORIZATION_BYTES_MAX);
    if (rc < 0)
        return fail(c, -EINVAL, "cannot sign %s %s: %s", req->method, req->target, strerror(-rc));
    return 0;
}

/* The request head (line, headers, blank line) into b. */
static int build_head(struct fcctl *c, const struct fcctl_request *req, struct fc_buf *b) {
    FC_ASSERT(req->headers_count <= FCCTL_REQ_HEADERS_MAX);
    char date[FC_AUTH_DATE_LEN + 1];
    FC_ASSERT(fc_auth_date_format((int64_t)time(NULL), date) == (int)FC_AUTH_DATE_LEN);
    struct fc_http_header h[SIGNED_HEADERS_MAX];
    uint32_t n = 0;
    h[n++] = hdr("Date", date);
    h[n++] = hdr("x-fc-account-id", c->account_id);
    if (req->content_type != NULL)
        h[n++] = hdr("Content-Type", req->content_type);
    for (uint32_t i = 0; i < req->headers_count; i++)
        h[n++] = hdr(req->headers[i].name, req->headers[i].value);
    for (uint32_t i = 0; i < n; i++)
        if (!value_ok(h[i].value))
            return fail(c, -EINVAL, "header %s: control characters in the value", h[i].name);
    char auth[AUTHORIZATION_BYTES_MAX];
    int rc = sign(c, req, h, n, auth);
    if (rc < 0)
        return rc;
    rc = fc_buf_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: fcctl/" FCCTL_VERSION "\r\n",
                       req->method, req->target, c->authority);
    for (uint32_t i = 0; i < n && rc == 0; i++)
        rc = fc_buf_header(b, h[i].name, h[i].name_len, h[i].value, h[i].value_len);
    bool has_body =
        req->body_len > 0 || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0;
    if (rc == 0 && has_body)
        rc = fc_buf_header_u64(b, "Content-Length", req->body_len);
    if (rc == 0 && auth[0] != '\0')
        rc = fc_buf_header(b, "Authorization", 13, auth, strlen(auth));
    if (rc == 0)
        rc = fc_buf_printf(b, "Connection: close\r\n\r\n");
    if (rc < 0)
        return fail(c, rc, "out of memory");
    return 0;
}

/* ---- connection -------------------------------------------------------------------- */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stopped(const struct fcctl *c) {
    return c->stop != NULL && *c->stop;
}

/* Connect fd (non-blocking) to ai within the deadline. Returns 0 or -errno. */
static int connect_one(struct fcctl *c, int fd, const struct addrinfo *ai, int64_t deadline) {
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -errno;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {fd, POLLOUT, 0};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR && !stopped(c))
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ETIMEDOUT;
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            return -errno;
        return -err;
    }
}

/* Make a connected socket blocking, with c->timeout_ms on each send/recv. */
static int tune(struct fcctl *c, int fd) {
    struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
    int one = 1, flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        return -errno;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* latency only */
    return 0;
}

/* A connected socket to the endpoint: every address of the host in turn,
 * all within one c->timeout_ms. Returns the fd or -errno. */
static int dial(struct fcctl *c) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(c->host, c->port, &hints, &res);
    if (g != 0) {
        set_error(c, "cannot resolve %s: %s", c->host, gai_strerror(g));
        return -EHOSTUNREACH;
    }
    int64_t deadline = now_ms() + c->timeout_ms;
    int rc = -EHOSTUNREACH;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        rc = connect_one(c, fd, ai, deadline);
        if (rc == 0)
            rc = tune(c, fd);
        if (rc == 0) {
            freeaddrinfo(res);
            return fd;
        }
        close(fd);
        if (rc == -ETIMEDOUT || stopped(c))
            break;
    }
    freeaddrinfo(res);
    if (stopped(c))
        return -EINTR;
    if (rc == -ETIMEDOUT)
        set_error(c, "cannot connect to %s: no answer within %d ms", c->authority, c->timeout_ms);
    else
        set_error(c, "cannot connect to %s: %s", c->authority, strerror(-rc));
    return rc;
}

/* Send head then body. Returns 0 or -errno (the peer may have answered and
 * closed early: the caller still tries to read that answer). */
static int send_all(struct fcctl *c, int fd, const struct fc_buf *head, const void *body,
                    size_t body_len) {
    struct iovec iov[2] = {{head->data, head->len}, {(void *)body, body_len}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    while (iov[0].iov_len + iov[1].iov_len > 0) {
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR && !stopped(c))
            continue;
        if (n < 0)
            return stopped(c) ? -EINTR : errno == EAGAIN ? -ETIMEDOUT : -errno;
        for (int i = 0; i < 2; i++) {
            size_t k = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
            if (k == 0) /* also keeps a NULL body pointer untouched */
                continue;
            iov[i].iov_base = (char *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            n -= (ssize_t)k;
        }
        if (iov[0].iov_len == 0) {
            m.msg_iov = &iov[1];
            m.msg_iovlen = 1;
        }
    }
    return 0;
}

/* recv once. Returns the count (0 at EOF) or -errno (-ETIMEDOUT after
 * c->timeout_ms of silence, -EINTR once *c->stop is set). */
static ssize_t recv_some(struct fcctl *c, int fd, char *buf, size_t cap) {
    for (;;) {
        ssize_t n = recv(fd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR && !stopped(c))
            continue;
        if (stopped(c))
            return -EINTR;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            set_error(c, "no answer from %s within %d ms", c->authority, c->timeout_ms);
            return -ETIMEDOUT;
        }
        set_error(c, "connection to %s lost: %s", c->authority, strerror(errno));
        return -errno;
    }
}

/* ---- response ---------------------------------------------------------------------- */

/* Read and parse the head (skipping 1xx answers) into out->_head. Returns
 * the head length; the body's first bytes follow it in out->_head up to
 * *have. */
static ssize_t read_head(struct fcctl *c, int fd, struct fcctl_response *out,
                         struct fc_http_resp *resp, size_t *have) {
    const struct fc_http_limits lim = {FCCTL_RESP_HEAD_BYTES_MAX, FCCTL_RESP_HEADERS_MAX};
    char *buf = out->_head;
    for (;;) {
        ssize_t end = fc_http_parse_response(buf, *have, &lim, resp);
        if (end > 0 && resp->status < 200) { /* 100 Continue and the like: skip */
            memmove(buf, buf + end, *have - (size_t)end);
            *have -= (size_t)end;
            continue;
        }
        if (end > 0)
            return end;
        if (end != -EAGAIN) {
            set_error(c, "bad answer from %s: %s", c->authority, resp->error);
            return end == -E2BIG ? -E2BIG : -EPROTO;
        }
        ssize_t n = recv_some(c, fd, buf + *have, FCCTL_RESP_HEAD_BYTES_MAX - *have);
        if (n < 0)
            return n;
        if (n == 0) {
            set_error(c, "%s closed the connection %s", c->authority,
                      *have ? "in the middle of an answer" : "without an answer");
            return -EPROTO;
        }
        *have += (size_t)n;
    }
}

/* Append len bytes of input to the body, decoding them when chunked.
 * Returns 1 when the body is complete, 0 for more, or -errno. */
static int body_feed(struct fcctl *c, struct fc_buf *body, const struct fc_http_resp *resp,
                     struct fc_http_chunked *dec, uint64_t *total, const char *in, size_t len) {
    if (len == 0) /* nothing arrived past the head yet */
        return resp->has_content_length && body->len == resp->content_length;
    if (!resp->chunked) {
        size_t want = len;
        if (resp->has_content_length && body->len + want > resp->content_length)
            want = (size_t)(resp->content_length - body->len);
        if (body->len + want > FCCTL_RESP_BODY_BYTES_MAX)
            return fail(c, -E2BIG, "answer body larger than %llu bytes",
                        (unsigned long long)FCCTL_RESP_BODY_BYTES_MAX);
        if (fc_buf_append(body, in, want) < 0)
            return fail(c, -ENOMEM, "out of memory");
        return resp->has_content_length && body->len == resp->content_length;
    }
    if (fc_buf_reserve(body, len) < 0)
        return fail(c, -ENOMEM, "out of memory");
    char *at = body->data + body->len;
    memcpy(at, in, len);
    size_t n = len;
    ssize_t rc = fc_http_chunked_decode(dec, at, &n, total, FCCTL_RESP_BODY_BYTES_MAX);
    body->len += n;
    if (rc == -EAGAIN)
        return 0;
    if (rc < 0)
        return fail(c, (rc == -E2BIG ? -E2BIG : -EPROTO), "bad chunked body from %s", c->authority);
    return 1;
}

/* Read the body after a head of head_len bytes (have bytes in the buffer). */
static int read_body(struct fcctl *c, int fd, bool head_request, struct fcctl_response *out,
                     const struct fc_http_resp *resp, size_t head_len, size_t have) {
    struct fc_buf body = {0};
    bool none = head_request || out->status == 204 || out->status == 304 ||
                (resp->has_content_length && resp->content_length == 0);
    if (resp->has_content_length && resp->content_length > FCCTL_RESP_BODY_BYTES_MAX)
        return fail(c, -E2BIG, "answer body of %llu bytes is too large",
                    (unsigned long long)resp->content_length);
    struct fc_http_chunked dec = {0};
    uint64_t total = 0;
    int rc =
        none ? 1 : body_feed(c, &body, resp, &dec, &total, out->_head + head_len, have - head_len);
    char *chunk = rc == 0 ? malloc(RECV_CHUNK_BYTES) : NULL;
    if (rc == 0 && chunk == NULL)
        rc = fail(c, -ENOMEM, "out of memory");
    while (rc == 0) {
        ssize_t n = recv_some(c, fd, chunk, RECV_CHUNK_BYTES);
        if (n == 0 && !resp->chunked && !resp->has_content_length)
            rc = 1; /* framed by the close */
        else if (n == 0)
            rc = fail(c, -EPROTO, "%s closed the connection in the middle of a body", c->authority);
        else
            rc = n < 0 ? (int)n : body_feed(c, &body, resp, &dec, &total, chunk, (size_t)n);
    }
    free(chunk);
    if (rc < 0 || fc_buf_reserve(&body, 1) < 0) {
        fc_buf_free(&body);
        return rc < 0 ? rc : fail(c, -ENOMEM, "out of memory");
    }
    body.data[body.len] = '\0';
    out->body = body.data;
    out->body_len = body.len;
    return 0;
}

/* NUL-terminate header names and values in place: each is followed by ':',
 * OWS or CR in the head buffer, which nothing reads again. */
static void terminate_headers(struct fcctl_response *out) {
    for (uint32_t i = 0; i < out->headers_count; i++) {
        struct fc_http_header *h = &out->headers[i];
        ((char *)h->name)[h->name_len] = '\0';
        ((char *)h->value)[h->value_len] = '\0';
    }
}

static int read_response(struct fcctl *c, int fd, bool head_request, struct fcctl_response *out) {
    out->_head = malloc(FCCTL_RESP_HEAD_BYTES_MAX + 1);
    if (out->_head == NULL)
        return fail(c, -ENOMEM, "out of memory");
    struct fc_http_resp resp = {.headers = out->headers, .headers_cap = FCCTL_RESP_HEADERS_MAX};
    size_t have = 0;
    ssize_t head_len = read_head(c, fd, out, &resp, &have);
    if (head_len < 0)
        return (int)head_len;
    out->status = resp.status;
    out->headers_count = resp.headers_count;
    int rc = read_body(c, fd, head_request, out, &resp, (size_t)head_len, have);
    if (rc == 0)
        terminate_headers(out); /* after the body: it was copied out of the head buffer */
    return rc;
}

int fcctl_http_exchange(struct fcctl *c, const struct fcctl_request *req,
                        struct fcctl_response *out) {
    FC_ASSERT(c != NULL && req != NULL && req->method != NULL && req->target != NULL);
    FC_ASSERT(req->body != NULL || req->body_len == 0);
    memset(out, 0, sizeof(*out));
    c->error[0] = '\0';
    if (strlen(req->target) > FCCTL_TARGET_BYTES_MAX)
        return fail(c, -EINVAL, "request target longer than %u bytes", FCCTL_TARGET_BYTES_MAX);
    struct fc_buf head = {0};
    int rc = build_head(c, req, &head);
    int fd = rc < 0 ? rc : dial(c);
    if (fd < 0) {
        fc_buf_free(&head);
        return fd;
    }
    int send_rc = send_all(c, fd, &head, req->body, req->body_len);
    fc_buf_free(&head);
    rc = send_rc == -EINTR || send_rc == -ETIMEDOUT
             ? send_rc
             : read_response(c, fd, strcmp(req->method, "HEAD") == 0, out);
    if (rc < 0 && send_rc < 0 && send_rc != -EINTR) /* the send's error explains more */
        set_error(c, "sending to %s failed: %s", c->authority, strerror(-send_rc));
    close(fd);
    if (rc < 0) {
        fcctl_response_free(out);
        if (rc == -EINTR)
            set_error(c, "interrupted");
        return rc;
    }
    FC_ASSERT(out->body != NULL && out->status >= 200 && out->status <= 999);
    return 0;
}

void fcctl_response_free(struct fcctl_response *r) {
    free(r->body);
    free(r->_head);
    memset(r, 0, sizeof(*r));
}

const char *fcctl_response_header(const struct fcctl_response *r, const char *name) {
    for (uint32_t i = 0; i < r->headers_count; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

/* ---- reports ----------------------------------------------------------------------- */

int fcctl_report_transport(struct fcctl *c, int rc) {
    FC_ASSERT(rc < 0);
    fprintf(stderr, "fcctl: %s\n", c->error[0] ? c->error : strerror(-rc));
    return rc == -EINVAL || rc == -ENOMEM ? FCCTL_EXIT_LOCAL : FCCTL_EXIT_NETWORK;
}

int fcctl_report_server(struct fcctl *c, const struct fcctl_response *r) {
    json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
    const char *code = json_string_value(json_object_get(doc, "ErrorCode"));
    const char *msg = json_string_value(json_object_get(doc, "ErrorMessage"));
    const char *rid = json_string_value(json_object_get(doc, "RequestId"));
    if (code == NULL)
        code = json_string_value(json_object_get(doc, "Code"));
    if (msg == NULL)
        msg = json_string_value(json_object_get(doc, "Message"));
    if (rid == NULL)
        rid = fcctl_response_header(r, "x-fc-request-id");
    if (code != NULL) {
        fprintf(stderr, "fcctl: %s: %s", code, msg ? msg : "");
    } else { /* not FC's error shape: the status and the start of the body */
        size_t n = strcspn(r->body, "\r\n");
        fprintf(stderr, "fcctl: HTTP %d %s%s%.*s", r->status, fc_http_reason(r->status),
                n ? ": " : "", (int)(n > 200 ? 200 : n), r->body);
    }
    fprintf(stderr, rid ? " (request id %s)\n" : "\n", rid);
    if (c->json && r->body_len > 0)
        fcctl_print_body(r);
    json_decref(doc);
    return FCCTL_EXIT_SERVER;
}

int fcctl_api(struct fcctl *c, const struct fcctl_request *req, struct fcctl_response *out) {
    int rc = fcctl_http_exchange(c, req, out);
    if (rc < 0)
        return fcctl_report_transport(c, rc);
    if (out->status >= 200 && out->status <= 299)
        return FCCTL_EXIT_OK;
    rc = fcctl_report_server(c, out);
    fcctl_response_free(out);
    return rc;
}

json_t *fcctl_response_json(const struct fcctl_response *r) {
    json_error_t err;
    json_t *doc = json_loadb(r->body, r->body_len, 0, &err);
    if (doc != NULL && json_is_object(doc))
        return doc;
    fprintf(stderr, "fcctl: fcd answered %d with a body that is not a JSON object%s%s\n", r->status,
            doc ? "" : ": ", doc ? "" : err.text);
    json_decref(doc);
    return NULL;
}

/* ---- targets and output ------------------------------------------------------------ */

int fcctl_buf_escape(struct fc_buf *b, const char *name) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        bool keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        int rc = keep ? fc_buf_append(b, p, 1) : fc_buf_append(b, enc, 3);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int fcctl_target(struct fc_buf *b, const char *svc, const char *qualifier, const char *fn,
                 const char *suffix) {
    FC_ASSERT(svc != NULL && svc[0] != '\0');
    b->len = 0;
    int rc = fc_buf_printf(b, "/" FCCTL_API_VERSION "/services/");
    rc = rc < 0 ? rc : fcctl_buf_escape(b, svc);
    if (rc == 0 && qualifier != NULL) {
        rc = fc_buf_append(b, ".", 1);
        rc = rc < 0 ? rc : fcctl_buf_escape(b, qualifier);
    }
    if (rc == 0 && fn != NULL) {
        rc = fc_buf_printf(b, "/functions/");
        rc = rc < 0 ? rc : fcctl_buf_escape(b, fn);
    }
    if (rc == 0 && suffix != NULL)
        rc = fc_buf_append(b, suffix, strlen(suffix));
    rc = rc < 0 ? rc : fc_buf_append(b, "", 1); /* NUL, not counted */
    if (rc < 0)
        return rc;
    b->len--;
    return b->len > FCCTL_TARGET_BYTES_MAX ? -ENAMETOOLONG : 0;
}

void fcctl_print_json(const json_t *v) {
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text != NULL)
        puts(text);
    free(text);
}

void fcctl_print_body(const struct fcctl_response *r) {
    fwrite(r->body, 1, r->body_len, stdout);
    if (r->body_len == 0 || r->body[r->body_len - 1] != '\n')
        putchar('\n');
}
