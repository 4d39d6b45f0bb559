/* response.c — see response.h. */
#include "io/response.h"

#include "io/http.h"

#include "core/assert.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERROR_BODY_BYTES_MAX 8192
#define HEAD_BYTES_MAX 1024 /* fixed headers; `extra` is counted on top */

/* "Date: Tue, 01 Dec 2026 10:00:00 GMT" formatted at most once a second per
 * thread: strftime per response would cost more than the rest of the head. */
static const char *date_header(void) {
    static _Thread_local char cached[64];
    static _Thread_local time_t cached_sec = -1;
    time_t now = time(NULL);
    if (now != cached_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(cached, sizeof(cached), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        cached_sec = now;
    }
    return cached;
}

static char *put(char *p, const char *s, size_t n) {
    if (n > 0) /* s may be NULL then, and memcpy(p, NULL, 0) is undefined */
        memcpy(p, s, n);
    return p + n;
}
#define PUT_LIT(p, lit) put(p, lit, sizeof(lit) - 1)

static char *put_uint(char *p, uint64_t v) {
    char tmp[20];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* Built with memcpy, not snprintf: the printf family was a quarter of fcd's
 * user time on a static 200 (bench/http.sh profile). */
int fc_response_head(struct fc_buf *b, const struct fc_response *r) {
    size_t extra_len = r->extra ? strlen(r->extra) : 0;
    size_t ct_len = r->content_type ? strlen(r->content_type) : 0;
    if (fc_buf_reserve(b, HEAD_BYTES_MAX + extra_len + ct_len) < 0)
        return -ENOMEM;
    const char *reason = fc_http_reason(r->status), *date = date_header();
    char *p = PUT_LIT(b->data + b->len, "HTTP/1.1 ");
    p = put_uint(p, (uint64_t)r->status);
    *p++ = ' ';
    p = put(p, reason, strlen(reason));
    p = PUT_LIT(p, "\r\n");
    p = put(p, date, strlen(date));
    p = PUT_LIT(p, "Content-Length: ");
    p = put_uint(p, r->content_length);
    p = PUT_LIT(p, "\r\n");
    if (r->content_type) {
        p = PUT_LIT(p, "Content-Type: ");
        p = put(p, r->content_type, ct_len);
        p = PUT_LIT(p, "\r\n");
    }
    if (r->request_id) {
        p = PUT_LIT(p, "x-fc-request-id: ");
        p = put(p, r->request_id, strlen(r->request_id));
        p = PUT_LIT(p, "\r\n");
    }
    if (!r->keep_alive)
        p = PUT_LIT(p, "Connection: close\r\n");
    else if (r->http10)
        p = PUT_LIT(p, "Connection: keep-alive\r\n");
    p = put(p, r->extra, extra_len);
    p = PUT_LIT(p, "\r\n");
    b->len = (size_t)(p - b->data);
    FC_ASSERT(b->len <= b->cap);
    return 0;
}

int fc_response_full(struct fc_buf *b, const struct fc_response *r, const void *body,
                     bool head_only) {
    size_t before = b->len;
    if (fc_response_head(b, r) < 0)
        return -ENOMEM;
    if (!head_only && r->content_length > 0 && fc_buf_append(b, body, r->content_length) < 0) {
        b->len = before;
        return -ENOMEM;
    }
    return 0;
}

int fc_response_verror(struct fc_buf *b, bool keep_alive, bool http10, bool head_only,
                       const char *request_id, const char *extra, enum fc_error err,
                       va_list ap) {
    char body[ERROR_BODY_BYTES_MAX];
    int len = fc_error_vjson(body, sizeof(body), err, request_id, ap);
    if (len < 0)
        return len;
    struct fc_response r = {
        .status = fc_error_status(err),
        .request_id = request_id,
        .content_type = "application/json",
        .content_length = (uint64_t)len,
        .keep_alive = keep_alive,
        .http10 = http10,
        .extra = extra,
    };
    int rc = fc_response_full(b, &r, body, head_only);
    return rc < 0 ? rc : r.status;
}

int fc_response_error(struct fc_buf *b, bool keep_alive, bool http10, bool head_only,
                      const char *request_id, enum fc_error err, ...) {
    va_list ap;
    va_start(ap, err);
    int rc = fc_response_verror(b, keep_alive, http10, head_only, request_id, NULL, err, ap);
    va_end(ap);
    return rc;
}
