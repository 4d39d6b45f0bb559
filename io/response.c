/* response.c — see response.h. */
#include "io/response.h"

#include "io/http.h"

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

int fc_response_head(struct fc_buf *b, const struct fc_response *r) {
    size_t extra_len = r->extra ? strlen(r->extra) : 0;
    if (fc_buf_reserve(b, HEAD_BYTES_MAX + extra_len) < 0)
        return -ENOMEM;
    char *p = b->data + b->len;
    size_t cap = b->cap - b->len;
    int n = snprintf(p, cap, "HTTP/1.1 %d %s\r\n%sContent-Length: %llu\r\n", r->status,
                     fc_http_reason(r->status), date_header(),
                     (unsigned long long)r->content_length);
    if (r->content_type)
        n += snprintf(p + n, cap - (size_t)n, "Content-Type: %s\r\n", r->content_type);
    if (r->request_id)
        n += snprintf(p + n, cap - (size_t)n, "x-fc-request-id: %s\r\n", r->request_id);
    if (!r->keep_alive)
        n += snprintf(p + n, cap - (size_t)n, "Connection: close\r\n");
    else if (r->http10)
        n += snprintf(p + n, cap - (size_t)n, "Connection: keep-alive\r\n");
    if (extra_len) {
        memcpy(p + n, r->extra, extra_len);
        n += (int)extra_len;
    }
    memcpy(p + n, "\r\n", 2);
    b->len += (size_t)n + 2;
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

int fc_response_error(struct fc_buf *b, bool keep_alive, bool http10, bool head_only,
                      const char *request_id, enum fc_error err, ...) {
    char body[ERROR_BODY_BYTES_MAX];
    va_list ap;
    va_start(ap, err);
    int len = fc_error_vjson(body, sizeof(body), err, request_id, ap);
    va_end(ap);
    if (len < 0)
        return len;
    struct fc_response r = {
        .status = fc_error_status(err),
        .request_id = request_id,
        .content_type = "application/json",
        .content_length = (uint64_t)len,
        .keep_alive = keep_alive,
        .http10 = http10,
    };
    int rc = fc_response_full(b, &r, body, head_only);
    return rc < 0 ? rc : r.status;
}
