/* dispatch.c — what a complete request gets as its answer.
 *
 * /healthz answers here. Invocations (HTTP trigger, InvokeFunction) look up
 * the function; until the function registry exists (issue "Synchronous
 * invocation end to end") no function exists, which is FC's 404
 * FunctionNotFound. The management API is routed but not built yet: 501
 * NotImplemented, never a fake success. Anything else is FC's 400
 * PathNotSupported. */
#include "io/io_thread.h"

#include "io/router.h"

#include <stdio.h>
#include <string.h>

#define NAME_BYTES_MAX 256 /* names quoted in error messages are cut here */

/* Copy a slice into a NUL-terminated buffer, cut to fit. */
static const char *slice_str(char *buf, size_t cap, const char *ptr, size_t len) {
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, ptr, len);
    buf[len] = '\0';
    return buf;
}

static int answer_health(struct fc_conn *c, const struct fc_http_req *req, bool keep_alive,
                         const char *rid) {
    static const char body[] = "{\"status\":\"ok\"}";
    struct fc_response r = {
        .status = 200,
        .request_id = rid,
        .content_type = "application/json",
        .content_length = sizeof(body) - 1,
        .keep_alive = keep_alive,
        .http10 = req->minor_version == 0,
    };
    return fc_response_full(&c->out, &r, body, req->method_id == FC_HTTP_HEAD) < 0 ? 500 : 200;
}

int fc_dispatch(struct fc_conn *c, const struct fc_http_req *req, const char *body,
                uint64_t body_len, bool keep_alive, const char *rid) {
    (void)body;
    (void)body_len;
    struct fc_route route;
    enum fc_route_kind kind = fc_route_match(req->method_id, req->target, req->target_len, &route);
    bool http10 = req->minor_version == 0, head = req->method_id == FC_HTTP_HEAD;
    char a[NAME_BYTES_MAX], b[NAME_BYTES_MAX];
    switch (kind) {
    case FC_ROUTE_HEALTH:
        if (req->method_id == FC_HTTP_GET || head)
            return answer_health(c, req, keep_alive, rid);
        break;
    case FC_ROUTE_HTTP_TRIGGER:
    case FC_ROUTE_INVOKE:
        return fc_response_error(
            &c->out, keep_alive, http10, head, rid, FC_ERR_FUNCTION_NOT_FOUND,
            slice_str(a, sizeof(a), route.function.ptr, route.function.len),
            slice_str(b, sizeof(b), route.service.ptr, route.service.len));
    case FC_ROUTE_API:
        snprintf(a, sizeof(a), "the management API (%.*s %.*s) is not implemented yet",
                 (int)req->method_len, req->method, (int)route.path.len, route.path.ptr);
        return fc_response_error(&c->out, keep_alive, http10, head, rid, FC_ERR_NOT_IMPLEMENTED,
                                 a);
    case FC_ROUTE_NONE:
        break;
    }
    return fc_response_error(&c->out, keep_alive, http10, head, rid, FC_ERR_PATH_NOT_SUPPORTED,
                             slice_str(a, sizeof(a), req->method, req->method_len),
                             slice_str(b, sizeof(b), req->target, req->target_len));
}
