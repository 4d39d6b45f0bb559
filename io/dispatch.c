/* dispatch.c — what a complete request gets as its answer.
 *
 * /healthz answers here. An InvokeFunction call or an HTTP-trigger request
 * becomes an invocation: the instance request head is built here (the io
 * thread holds the parsed request), the request bytes move into the
 * invocation, and the scheduler takes it to a worker. When it comes back,
 * fc_dispatch_complete turns the result into FC's response (CONTRACT.md
 * §2.2–2.3, §3.3). Management calls go to the ctl thread (core/ctl.h),
 * task calls to io/tasks.c, both after the API's signature check. Anything
 * else is FC's 400 PathNotSupported. */
#include "io/io_thread.h"

#include "core/log.h"
#include "io/router.h"
#include "io/tasks.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NAME_BYTES_MAX 256 /* names quoted in error messages are cut here */

/* Copy a slice into a NUL-terminated buffer, cut to fit. */
static const char *slice_str(char *buf, size_t cap, const char *ptr, size_t len) {
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, ptr, len);
    buf[len] = '\0';
    return buf;
}

/* An FC error with the given X-Fc-Error-Type line (NULL: none). */
static int typed_error(struct fc_conn *c, const char *type_line, bool keep_alive, bool http10,
                       bool head, const char *rid, enum fc_error err, ...) {
    va_list ap;
    va_start(ap, err);
    int rc = fc_response_verror(&c->out, keep_alive, http10, head, rid, type_line, err, ap);
    va_end(ap);
    return rc;
}

/* An FC error fcd itself answers. Through an HTTP trigger it carries
 * X-Fc-Error-Type: FcCommonError, telling it apart from the function's own
 * answers (CONTRACT.md §2.3). */
static int platform_error(struct fc_conn *c, bool keep_alive, bool http10, bool head,
                          const char *rid, enum fc_error err, ...) {
    va_list ap;
    va_start(ap, err);
    int rc = fc_response_verror(&c->out, keep_alive, http10, head, rid,
                                c->trigger_request ? "x-fc-error-type: FcCommonError\r\n" : NULL,
                                err, ap);
    va_end(ap);
    return rc;
}

static bool name_is(const struct fc_http_header *h, const char *name) {
    size_t n = strlen(name);
    return h->name_len == n && strncasecmp(h->name, name, n) == 0;
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

/* ---- the request an instance gets ---------------------------------------------- */

/* Is h FC's reserved x-fc-* or one of the `n` names? */
static bool header_in(const struct fc_http_header *h, const char *const *names, size_t n) {
    if (h->name_len >= 5 && strncasecmp(h->name, "x-fc-", 5) == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (name_is(h, names[i]))
            return true;
    return false;
}

/* Request headers a client may not pass to the instance: hop-by-hop ones
 * (RFC 9110 §7.6.1), the framing fcd redoes, and FC's reserved x-fc-*
 * (CONTRACT.md §3.4). */
static bool header_dropped(const struct fc_http_header *h) {
    static const char *const dropped[] = {"connection", "keep-alive", "proxy-connection",
                                          "transfer-encoding", "content-length", "te", "trailer",
                                          "upgrade", "expect"};
    return header_in(h, dropped, sizeof(dropped) / sizeof(dropped[0]));
}

/* Append a string literal (no printf on the request path: bench/sync.sh's
 * profile found the printf family there). */
#define APPEND_LIT(b, lit) fc_buf_append((b), (lit), sizeof(lit) - 1)

/* Append the pieces p[0..n) in order; stops at the first failure. */
static int append_all(struct fc_buf *b, const struct fc_slice *p, size_t n) {
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = fc_buf_append(b, p[i].ptr, p[i].len);
    return rc;
}

#define SLICE_LIT(lit) ((struct fc_slice){(lit), sizeof(lit) - 1})
#define SLICE_STR(s) ((struct fc_slice){(s), (uint32_t)strlen(s)})

/* POST /invoke with the event as the body (CONTRACT.md §6.3). Express reads
 * a body without Content-Type as empty (RUNTIMES.md): default it. */
static int build_event_head(struct fc_buf *b, const struct fc_http_req *req,
                            const struct fc_function *fn, uint64_t body_len, const char *rid) {
    const struct fc_http_header *ct = fc_http_header_find(req, "content-type", 12);
    int rc = APPEND_LIT(b, "POST /invoke HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if (rc == 0)
        rc = ct ? fc_buf_header(b, "Content-Type", 12, ct->value, ct->value_len)
                : APPEND_LIT(b, "Content-Type: application/octet-stream\r\n");
    if (rc == 0)
        rc = fc_buf_header_u64(b, "Content-Length", body_len);
    return rc < 0 ? rc : fc_invocation_fc_headers(b, fn, rid, "/invoke", 0);
}

/* The client's own request for an HTTP trigger: method, full path and
 * query, its headers (minus dropped ones), body, plus x-fc-base-path and
 * the client's address (CONTRACT.md §3.3). */
static int build_http_head(struct fc_buf *b, const struct fc_conn *c,
                           const struct fc_http_req *req, const struct fc_route *route,
                           const struct fc_function *fn, uint64_t body_len, const char *rid) {
    const struct fc_slice line[] = {{req->method, req->method_len}, SLICE_LIT(" "),
                                    {req->target, req->target_len}, SLICE_LIT(" HTTP/1.1\r\n")};
    int rc = append_all(b, line, 4);
    struct fc_slice xff = {0};
    bool host = false;
    for (uint32_t i = 0; rc == 0 && i < req->headers_count; i++) {
        const struct fc_http_header *h = &req->headers[i];
        if (header_dropped(h))
            continue;
        if (name_is(h, "x-forwarded-for")) {
            xff = (struct fc_slice){h->value, h->value_len};
            continue;
        }
        host |= name_is(h, "host");
        rc = fc_buf_header(b, h->name, h->name_len, h->value, h->value_len);
    }
    if (rc == 0 && !host)
        rc = APPEND_LIT(b, "Host: 127.0.0.1\r\n");
    if (rc == 0 && (body_len > 0 || req->has_content_length || req->chunked))
        rc = fc_buf_header_u64(b, "Content-Length", body_len);
    /* The target up to the function name, with its slash (CONTRACT.md §3.3). */
    uint32_t base_len = (uint32_t)(route->function.ptr + route->function.len - req->target);
    const struct fc_slice tail[] = {SLICE_LIT("X-Forwarded-For: "),
                                    xff,
                                    xff.len ? SLICE_LIT(", ") : SLICE_LIT(""),
                                    SLICE_STR(c->client_ip),
                                    SLICE_LIT("\r\nx-fc-client-ip: "),
                                    SLICE_STR(c->client_ip),
                                    SLICE_LIT("\r\nx-fc-base-path: "),
                                    {req->target, base_len},
                                    SLICE_LIT("/\r\n")};
    if (rc == 0)
        rc = append_all(b, tail, sizeof(tail) / sizeof(tail[0]));
    return rc < 0 ? rc : fc_invocation_fc_headers(b, fn, rid, "/http-invoke", 0);
}

/* ---- starting an invocation ---------------------------------------------------- */

/* The trigger's FC_METHOD_* bit for the request's method (0: none). */
static uint32_t method_bit(const struct fc_http_req *req) {
    switch (req->method_id) {
    case FC_HTTP_GET: return FC_METHOD_GET;
    case FC_HTTP_HEAD: return FC_METHOD_HEAD;
    case FC_HTTP_POST: return FC_METHOD_POST;
    case FC_HTTP_PUT: return FC_METHOD_PUT;
    case FC_HTTP_DELETE: return FC_METHOD_DELETE;
    case FC_HTTP_PATCH: return FC_METHOD_PATCH;
    case FC_HTTP_OPTIONS: return FC_METHOD_OPTIONS;
    case FC_HTTP_OTHER: break;
    }
    return 0;
}

/* Check req's FC signature (CONTRACT.md §4, core/auth.h). Returns true, or
 * false with the FC error and its argument: the message says what was
 * wrong, never what the signature should have been. */
static bool signature_valid(struct fc_conn *c, const struct fc_http_req *req, enum fc_error *err,
                            char arg[FC_AUTH_MESSAGE_BYTES_MAX]) {
    const struct fc_config *cfg = c->io->cfg;
    struct fc_auth_request ar = {req->method, req->method_len, req->target_len, req->target,
                                 req->headers, req->headers_count};
    struct fc_auth_result r;
    if (fc_auth_verify(&ar, cfg->keys, cfg->keys_count, (int64_t)time(NULL), c->io->auth, &r) ==
        FC_AUTH_OK)
        return true;
    FC_LOG_DEBUG("signature refused: %s (%s)", fc_auth_status_name(r.status), r.message);
    *err = fc_auth_status_error(r.status);
    snprintf(arg, FC_AUTH_MESSAGE_BYTES_MAX, "%s", r.fc_arg ? r.fc_arg : "");
    return false;
}

/* May this API call go on? With access keys configured it must be signed
 * unless anonymous API access was enabled. Without keys the data plane
 * (InvokeFunction, task status) is open, and the catalog (`management`)
 * needs api_anonymous: a server nobody configured must not take code from
 * anyone who can reach it. Returns true, or false with the error. */
static bool api_access(struct fc_conn *c, const struct fc_http_req *req, bool management,
                       enum fc_error *err, char arg[FC_AUTH_MESSAGE_BYTES_MAX]) {
    const struct fc_config *cfg = c->io->cfg;
    bool signed_request = fc_http_header_find(req, "authorization", 13) != NULL;
    if (cfg->keys_count > 0 && (signed_request || !cfg->api_anonymous))
        return signature_valid(c, req, err, arg);
    if (cfg->keys_count > 0 || cfg->api_anonymous || !management)
        return true;
    *err = FC_ERR_ACCESS_DENIED;
    snprintf(arg, FC_AUTH_MESSAGE_BYTES_MAX,
             "the management API needs an access key (--access-key) or api_anonymous");
    return false;
}

/* api_access, answering a refusal (*status set). */
static bool api_allowed(struct fc_conn *c, const struct fc_http_req *req, bool management,
                        bool keep_alive, const char *rid, int *status) {
    enum fc_error err;
    char arg[FC_AUTH_MESSAGE_BYTES_MAX];
    if (api_access(c, req, management, &err, arg))
        return true;
    *status = platform_error(c, keep_alive, req->minor_version == 0,
                             req->method_id == FC_HTTP_HEAD, rid, err, arg);
    return false;
}

/* An authType function trigger: signature_valid, answering a refusal. */
static bool signature_ok(struct fc_conn *c, const struct fc_http_req *req, bool keep_alive,
                         const char *rid, int *status) {
    enum fc_error err;
    char arg[FC_AUTH_MESSAGE_BYTES_MAX];
    if (signature_valid(c, req, &err, arg))
        return true;
    *status = platform_error(c, keep_alive, req->minor_version == 0,
                             req->method_id == FC_HTTP_HEAD, rid, err, arg);
    return false;
}

bool fc_dispatch_upload_allowed(struct fc_conn *c, const struct fc_http_req *req,
                                enum fc_error *err, char arg[FC_AUTH_MESSAGE_BYTES_MAX]) {
    return api_access(c, req, true, err, arg);
}

/* Hand a management call to the ctl thread; answered by fc_conn_on_ctl.
 * Returns 0 (pending) or the error status written. */
static int dispatch_ctl(struct fc_conn *c, const struct fc_http_req *req,
                        const struct fc_route *route, const char *body, uint64_t body_len,
                        bool keep_alive, const char *rid) {
    const struct fc_http_header *host = fc_http_header_find(req, "host", 4);
    const struct fc_http_header *if_match = fc_http_header_find(req, "if-match", 8);
    struct fc_ctl_req *cr = fc_ctl_req_new(route->path.ptr, route->path.len, route->query.ptr,
                                           route->query.len, host ? host->value : NULL,
                                           host ? host->value_len : 0,
                                           if_match ? if_match->value : NULL,
                                           if_match ? if_match->value_len : 0);
    if (cr == NULL || fc_buf_append(&cr->body, body, body_len) < 0) {
        fc_ctl_req_free(cr);
        return platform_error(c, keep_alive, c->inv_http10, false, rid, FC_ERR_INTERNAL);
    }
    cr->io_index = (uint16_t)c->io->index;
    cr->conn = c;
    cr->method = req->method_id;
    snprintf(cr->request_id, sizeof(cr->request_id), "%s", rid);
    if (fc_ctl_submit(c->io->ctl, cr) < 0) {
        fc_ctl_req_free(cr);
        return platform_error(c, keep_alive, c->inv_http10, false, rid,
                                 FC_ERR_RESOURCE_THROTTLED, "too many management calls queued");
    }
    c->creq = cr;
    fc_str_copy(c->async_method, sizeof(c->async_method), req->method, req->method_len);
    fc_str_copy(c->async_target, sizeof(c->async_target), req->target, req->target_len);
    return 0;
}

/* Checks before an invocation: the function exists, its trigger admits the
 * request. Returns the function, or NULL with an error response written
 * (*status set). */
static const struct fc_function *resolve(struct fc_conn *c, const struct fc_http_req *req,
                                         const struct fc_route *route, bool keep_alive,
                                         const char *rid, int *status) {
    const struct fc_catalog *cat = fc_registry_view(c->io->registry, &c->io->view);
    bool http10 = req->minor_version == 0, head = req->method_id == FC_HTTP_HEAD;
    char a[NAME_BYTES_MAX], b[NAME_BYTES_MAX];
    const char *fn_name = slice_str(a, sizeof(a), route->function.ptr, route->function.len);
    const char *svc = slice_str(b, sizeof(b), route->service.ptr, route->service.len);
    const struct fc_function *fn = fc_catalog_find(cat, route->service.ptr, route->service.len,
                                                   route->function.ptr, route->function.len);
    if (fn == NULL && !fc_catalog_has_service(cat, route->service.ptr, route->service.len))
        *status = platform_error(c, keep_alive, http10, head, rid,
                                    FC_ERR_SERVICE_NOT_FOUND, svc);
    else if (fn == NULL)
        *status = platform_error(c, keep_alive, http10, head, rid,
                                    FC_ERR_FUNCTION_NOT_FOUND, fn_name, svc);
    else if (route->kind == FC_ROUTE_HTTP_TRIGGER && !fn->http_trigger)
        *status = platform_error(c, keep_alive, http10, head, rid,
                                    FC_ERR_TRIGGER_NOT_FOUND, "http", fn_name);
    else if (route->kind == FC_ROUTE_HTTP_TRIGGER && fn->http_url_disabled)
        *status = platform_error(c, keep_alive, http10, head, rid, FC_ERR_ACCESS_DENIED,
                                    "access denied due to function internet URL is disable");
    else if (route->kind == FC_ROUTE_HTTP_TRIGGER && !(fn->http_methods & method_bit(req)))
        *status = platform_error(c, keep_alive, http10, head, rid, FC_ERR_ACCESS_DENIED,
                                    "the HTTP trigger does not allow this method");
    else if (route->kind == FC_ROUTE_HTTP_TRIGGER && !fn->http_anonymous)
        return signature_ok(c, req, keep_alive, rid, status) ? fn : NULL;
    else
        return fn;
    return NULL;
}

static bool invocation_is_async(const struct fc_http_req *req) {
    const struct fc_http_header *h = fc_http_header_find(req, "x-fc-invocation-type", 20);
    return h != NULL && h->value_len == 5 && strncasecmp(h->value, "async", 5) == 0;
}

static bool wants_log_tail(const struct fc_http_req *req) {
    const struct fc_http_header *h = fc_http_header_find(req, "x-fc-log-type", 13);
    return h != NULL && h->value_len == 4 && strncasecmp(h->value, "tail", 4) == 0;
}

/* x-fc-async-delay: 0..FC_ASYNC_DELAY_S_MAX seconds. Returns it, or -1. */
static long async_delay(const struct fc_http_req *req) {
    const struct fc_http_header *h = fc_http_header_find(req, "x-fc-async-delay", 16);
    if (h == NULL)
        return 0;
    long v = 0;
    for (uint32_t i = 0; i < h->value_len; i++) {
        if (h->value[i] < '0' || h->value[i] > '9' || v > FC_ASYNC_DELAY_S_MAX)
            return -1;
        v = v * 10 + (h->value[i] - '0');
    }
    return h->value_len == 0 || v > FC_ASYNC_DELAY_S_MAX ? -1 : v;
}

/* The task id: the caller's X-Fc-Stateful-Async-Invocation-Id (FC's rule: a
 * letter or '_' first, then [A-Za-z0-9_-], at most 128) or the request id.
 * Returns 0, or -EINVAL for a bad caller id. */
static int task_id(const struct fc_http_req *req, const char *rid, struct fc_async_req *ar,
                   bool *given) {
    const struct fc_http_header *h =
        fc_http_header_find(req, "x-fc-stateful-async-invocation-id", 33);
    *given = h != NULL;
    if (h == NULL) {
        fc_str_copy(ar->id, sizeof(ar->id), rid, strlen(rid));
        return 0;
    }
    char first = h->value_len ? h->value[0] : '0';
    if (h->value_len > FC_RECORD_ID_BYTES_MAX || !((first >= 'a' && first <= 'z') ||
                                                    (first >= 'A' && first <= 'Z') || first == '_') ||
        !fc_record_id_valid(h->value, h->value_len))
        return -EINVAL;
    fc_str_copy(ar->id, sizeof(ar->id), h->value, h->value_len);
    return 0;
}

/* An async invocation: validate, copy what the job needs, and hand it to
 * the store thread; the 202 goes out only after its durable commit
 * (fc_dispatch_async_complete). Returns 0 (pending) or the error status. */
static int dispatch_async(struct fc_conn *c, const struct fc_http_req *req,
                          const struct fc_route *route, const struct fc_function *fn,
                          uint64_t body_len, bool keep_alive, const char *rid) {
    struct fc_io *io = c->io;
    bool http10 = req->minor_version == 0, head = req->method_id == FC_HTTP_HEAD;
    long delay = async_delay(req);
    if (delay < 0)
        return platform_error(c, keep_alive, http10, head, rid, FC_ERR_INVALID_ARGUMENT,
                                 "x-fc-async-delay must be an integer in 0..3600");
    if (io->async == NULL || io->free_areqs == NULL)
        return platform_error(c, keep_alive, http10, head, rid,
                                 FC_ERR_RESOURCE_THROTTLED,
                                 io->async ? "too many async requests in flight"
                                           : "the async store is not available");
    struct fc_async_req *ar = io->free_areqs;
    bool given;
    if (task_id(req, rid, ar, &given) < 0)
        return platform_error(c, keep_alive, http10, head, rid, FC_ERR_INVALID_ARGUMENT,
                                 "x-fc-stateful-async-invocation-id must start with a letter or "
                                 "'_' and hold only letters, digits, '_' and '-' (at most 128)");
    const struct fc_http_header *en =
        fc_http_header_find(req, "x-fc-stateful-async-invocation-enable", 37);
    ar->kind = FC_ASYNC_SUBMIT;
    ar->io_index = (uint16_t)io->index;
    ar->conn = c;
    fc_function_ref(fn); /* the store thread reads it: dropped when the request comes back */
    ar->fn = fn;
    ar->stateful = fn->async_stateful || given ||
                   (en != NULL && en->value_len == 4 && strncasecmp(en->value, "true", 4) == 0);
    ar->http = route->kind == FC_ROUTE_HTTP_TRIGGER;
    ar->delay_s = (uint32_t)delay;
    ar->payload.len = 0;
    const struct fc_http_header *ct = fc_http_header_find(req, "content-type", 12);
    int rc = 0;
    if (ar->http) {
        fc_str_copy(ar->content_type, sizeof(ar->content_type), FC_ASYNC_HTTP_REQUEST,
                    sizeof(FC_ASYNC_HTTP_REQUEST) - 1);
        rc = build_http_head(&ar->payload, c, req, route, fn, body_len, ar->id);
        if (rc == 0)
            rc = fc_buf_append(&ar->payload, "\r\n", 2);
    } else {
        static const char octets[] = "application/octet-stream";
        fc_str_copy(ar->content_type, sizeof(ar->content_type), ct ? ct->value : octets,
                    ct ? ct->value_len : sizeof(octets) - 1);
    }
    if (rc == 0)
        rc = fc_buf_append(&ar->payload, c->in.data + c->head_len, body_len);
    if (rc == 0)
        rc = fc_async_submit(io->async, ar);
    if (rc < 0) {
        fc_function_unref(fn);
        ar->fn = NULL;
        return platform_error(c, keep_alive, http10, head, rid,
                                 FC_ERR_RESOURCE_THROTTLED, "the async store is busy");
    }
    io->free_areqs = ar->next_free;
    c->areq = ar;
    fc_str_copy(c->async_method, sizeof(c->async_method), req->method, req->method_len);
    fc_str_copy(c->async_target, sizeof(c->async_target), req->target, req->target_len);
    return 0;
}

static int dispatch_invoke(struct fc_conn *c, const struct fc_http_req *req,
                           const struct fc_route *route, uint64_t body_len, size_t consumed,
                           bool keep_alive, const char *rid) {
    struct fc_io *io = c->io;
    bool http10 = req->minor_version == 0, head = req->method_id == FC_HTTP_HEAD;
    int status = 0;
    if (route->kind == FC_ROUTE_INVOKE && !api_allowed(c, req, false, keep_alive, rid, &status))
        return status;
    const struct fc_function *fn = resolve(c, req, route, keep_alive, rid, &status);
    if (fn == NULL)
        return status;
    if (invocation_is_async(req))
        return dispatch_async(c, req, route, fn, body_len, keep_alive, rid);
    struct fc_invocation *inv = fc_inv_pool_take(&io->invs);
    if (inv == NULL)
        return platform_error(c, keep_alive, http10, head, rid,
                                 FC_ERR_RESOURCE_THROTTLED, "too many invocations in flight");
    /* Relaxed: published to the worker by the submit ring's release. */
    atomic_fetch_add_explicit(&inv->generation, 1, memory_order_relaxed);
    fc_function_ref(fn); /* the catalog may change while it runs: dropped on recycle */
    inv->fn = fn;
    inv->conn = c;
    inv->kind = route->kind == FC_ROUTE_INVOKE ? FC_INV_EVENT : FC_INV_HTTP;
    inv->want_log_tail = wants_log_tail(req);
    inv->head_only = head && inv->kind == FC_INV_HTTP;
    memcpy(inv->request_id, rid, sizeof(inv->request_id));
    inv->head.len = inv->resp.len = inv->log_tail.len = 0;
    inv->body_off = c->head_len;
    inv->body_len = body_len;
    inv->submit_us = fc_now_us();
    int rc = inv->kind == FC_INV_EVENT ? build_event_head(&inv->head, req, fn, body_len, rid)
                                       : build_http_head(&inv->head, c, req, route, fn, body_len,
                                                         rid);
    if (rc == 0)
        rc = fc_buf_append(&inv->head, "\r\n", 2);
    c->inv_method_off = (uint32_t)(req->method - c->in.data);
    c->inv_method_len = req->method_len;
    c->inv_target_off = (uint32_t)(req->target - c->in.data);
    c->inv_target_len = req->target_len;
    if (rc == 0)
        rc = fc_conn_take_request(c, consumed, &inv->req);
    if (rc == 0)
        rc = fc_sched_submit(io->sched, inv);
    if (rc < 0) {
        fc_function_unref(fn);
        inv->fn = NULL;
        fc_inv_pool_put(&io->invs, inv);
        return -1; /* the caller answers (the request bytes may be gone) */
    }
    c->inv = inv;
    return 0;
}

int fc_dispatch(struct fc_conn *c, const struct fc_http_req *req, const char *body,
                uint64_t body_len, size_t consumed, bool keep_alive, const char *rid) {
    struct fc_route route;
    enum fc_route_kind kind = fc_route_match(req->method_id, req->target, req->target_len, &route);
    c->trigger_request = kind == FC_ROUTE_HTTP_TRIGGER;
    bool http10 = req->minor_version == 0, head = req->method_id == FC_HTTP_HEAD;
    char a[NAME_BYTES_MAX], b[NAME_BYTES_MAX];
    switch (kind) {
    case FC_ROUTE_HEALTH:
        if (req->method_id == FC_HTTP_GET || head)
            return answer_health(c, req, keep_alive, rid);
        break;
    case FC_ROUTE_HTTP_TRIGGER:
    case FC_ROUTE_INVOKE: {
        int status = dispatch_invoke(c, req, &route, body_len, consumed, keep_alive, rid);
        if (status >= 0)
            return status;
        return platform_error(c, keep_alive, http10, head, rid,
                                 FC_ERR_RESOURCE_THROTTLED, "the scheduler is busy");
    }
    case FC_ROUTE_API: {
        int status = 0;
        bool tasks = fc_tasks_route(&route);
        if (!api_allowed(c, req, !tasks, keep_alive, rid, &status))
            return status;
        c->inv_http10 = http10;
        if (tasks && (status = fc_tasks_dispatch(c, req, &route, keep_alive, rid)) >= 0)
            return status;
        if (tasks || head)
            break; /* a task path with another method; HEAD (it would get a body) */
        return dispatch_ctl(c, req, &route, body, body_len, keep_alive, rid);
    }
    case FC_ROUTE_NONE:
        break;
    }
    return platform_error(c, keep_alive, http10, head, rid, FC_ERR_PATH_NOT_SUPPORTED,
                             slice_str(a, sizeof(a), req->method, req->method_len),
                             slice_str(b, sizeof(b), req->target, req->target_len));
}

/* ---- answering a finished invocation ---------------------------------------- */

/* Response headers an instance may not set (CONTRACT.md §3.4), and the
 * hop-by-hop ones fcd answers for itself (RUNTIMES.md). */
static bool resp_header_dropped(const struct fc_http_header *h) {
    static const char *const dropped[] = {"connection", "keep-alive", "transfer-encoding",
                                          "content-length", "date", "server", "trailer",
                                          "upgrade", "proxy-connection"};
    return header_in(h, dropped, sizeof(dropped) / sizeof(dropped[0]));
}

/* The x-fc-* headers of every invocation response (CONTRACT.md §2.2). */
static int invocation_headers(struct fc_buf *b, const struct fc_invocation *inv) {
    /* MB with two decimals, rounded ("100.26"), without printf's float path. */
    uint64_t centi = ((uint64_t)inv->max_memory_kb * 100 + 512) / 1024;
    char mb[32];
    size_t mb_len = 0, at = sizeof(mb);
    for (int digit = 0; digit < 3 || centi != 0; digit++, centi /= 10) {
        if (digit == 2)
            mb[--at] = '.';
        mb[--at] = (char)('0' + centi % 10);
    }
    memmove(mb, mb + at, mb_len = sizeof(mb) - at);
    int rc = fc_buf_header_u64(b, "x-fc-invocation-duration", (inv->duration_us + 999) / 1000);
    if (rc == 0)
        rc = fc_buf_header(b, "x-fc-max-memory-usage", 21, mb, mb_len);
    if (rc == 0)
        rc = fc_buf_header(b, "x-fc-invocation-service-version", 31, "LATEST", 6);
    if (rc == 0 && inv->instance_id[0])
        rc = fc_buf_header(b, "x-fc-instance-id", 16, inv->instance_id,
                           strlen(inv->instance_id));
    if (rc == 0 && inv->want_log_tail && inv->log_tail.len > 0) {
        rc = fc_buf_append(b, "x-fc-log-result: ", 17);
        if (rc == 0)
            rc = fc_buf_base64(b, inv->log_tail.data, inv->log_tail.len);
        if (rc == 0)
            rc = fc_buf_append(b, "\r\n", 2);
    }
    return rc;
}

/* The body of a function error FC reports as UnhandledInvocationError. */
static int unhandled_message(char *out, size_t cap, const struct fc_invocation *inv) {
    double mb = inv->max_memory_kb / 1024.0;
    switch (inv->result) {
    case FC_INV_TIMEOUT:
        return snprintf(out, cap, "Function timed out after %u seconds (maxMemoryUsage: %.2fMB)",
                        inv->fn->timeout_s, mb);
    case FC_INV_CRASHED:
        return snprintf(out, cap,
                        "Process exited unexpectedly before completing request "
                        "(duration: %llums, maxMemoryUsage: %.2fMB)",
                        (unsigned long long)(inv->duration_us / 1000), mb);
    default: /* FC_INV_INIT_FAILED */
        return snprintf(out, cap, "Function initialization failed: %s", inv->error);
    }
}

/* Timeout, crash, failed initializer: InvokeFunction answers 200 (SDKs
 * retry 5xx, which would re-run the function), an HTTP trigger 502. */
static int answer_unhandled(struct fc_conn *c, const struct fc_invocation *inv, bool keep_alive) {
    char msg[2048], escaped[4096], body[4200];
    int n = unhandled_message(msg, sizeof(msg), inv);
    int e = fc_json_escape(escaped, sizeof(escaped), msg, n < (int)sizeof(msg) ? (size_t)n : 0);
    int len = snprintf(body, sizeof(body), "{\"errorMessage\":\"%s\"}", e < 0 ? "" : escaped);
    struct fc_buf extra = c->io->scratch; /* reused: no allocation per response */
    extra.len = 0;
    fc_buf_printf(&extra, "x-fc-error-type: UnhandledInvocationError\r\n");
    invocation_headers(&extra, inv);
    struct fc_response r = {.status = inv->kind == FC_INV_EVENT ? 200 : 502,
                            .request_id = inv->request_id,
                            .content_type = "application/json",
                            .content_length = (uint64_t)len,
                            .keep_alive = keep_alive,
                            .http10 = c->inv_http10,
                            .extra = NULL};
    fc_buf_append(&extra, "", 1); /* NUL-terminate for .extra */
    r.extra = extra.data;
    int rc = fc_response_full(&c->out, &r, body, inv->head_only);
    c->io->scratch = extra;
    return rc < 0 ? 500 : r.status;
}

/* The instance answered: pass its response on (HTTP trigger) or its body
 * (InvokeFunction, where status and headers are dropped; CONTRACT.md §6.3). */
static int answer_instance(struct fc_conn *c, const struct fc_invocation *inv, bool keep_alive) {
    struct fc_io *io = c->io;
    struct fc_http_resp resp = {.headers = io->headers, .headers_cap = io->limits.headers_max};
    struct fc_http_limits limits = {(uint32_t)inv->resp_head_len, io->limits.headers_max};
    if (fc_http_parse_response(inv->resp.data, inv->resp_head_len, &limits, &resp) < 0)
        return platform_error(c, keep_alive, c->inv_http10, inv->head_only,
                                 inv->request_id, FC_ERR_BAD_RESPONSE, "too many headers");
    bool event = inv->kind == FC_INV_EVENT, failed = inv->result == FC_INV_FUNCTION_ERROR;
    struct fc_buf extra = c->io->scratch; /* reused: no allocation per response */
    extra.len = 0;
    const char *content_type = event && !failed ? "application/octet-stream" : NULL;
    for (uint32_t i = 0; i < resp.headers_count; i++) {
        const struct fc_http_header *h = &resp.headers[i];
        bool keep = event ? failed && name_is(h, "content-type") : !resp_header_dropped(h);
        if (keep)
            fc_buf_header(&extra, h->name, h->name_len, h->value, h->value_len);
    }
    if (failed && event)
        fc_buf_printf(&extra, "x-fc-error-type: UnhandledInvocationError\r\n");
    invocation_headers(&extra, inv);
    struct fc_response r = {.status = event ? 200 : resp.status,
                            .request_id = inv->request_id,
                            .content_type = content_type,
                            .content_length = inv->resp.len - inv->resp_head_len,
                            .keep_alive = keep_alive,
                            .http10 = c->inv_http10,
                            .extra = NULL};
    fc_buf_append(&extra, "", 1); /* NUL-terminate for .extra */
    r.extra = extra.data;
    int rc = fc_response_full(&c->out, &r, inv->resp.data + inv->resp_head_len, inv->head_only);
    c->io->scratch = extra;
    return rc < 0 ? 500 : r.status;
}

/* 502 FunctionNotStarted with X-Fc-Error-Type and the runtime's last
 * output in the message (CONTRACT.md, fcd's choices). */
static int answer_not_started(struct fc_conn *c, const struct fc_invocation *inv,
                              bool keep_alive) {
    char body[4096], detail[1600];
    snprintf(detail, sizeof(detail), " %s", inv->error);
    int len = fc_error_json(body, sizeof(body), FC_ERR_FUNCTION_NOT_STARTED, inv->request_id,
                            detail);
    if (len < 0)
        return platform_error(c, keep_alive, c->inv_http10, inv->head_only,
                                 inv->request_id, FC_ERR_INTERNAL);
    struct fc_response r = {.status = fc_error_status(FC_ERR_FUNCTION_NOT_STARTED),
                            .request_id = inv->request_id,
                            .content_type = "application/json",
                            .content_length = (uint64_t)len,
                            .keep_alive = keep_alive,
                            .http10 = c->inv_http10,
                            .extra = "x-fc-error-type: FunctionNotStarted\r\n"};
    return fc_response_full(&c->out, &r, body, inv->head_only) < 0 ? 500 : r.status;
}

int fc_dispatch_complete(struct fc_conn *c, struct fc_invocation *inv, bool keep_alive) {
    bool http10 = c->inv_http10, head = inv->head_only;
    c->trigger_request = inv->kind == FC_INV_HTTP;
    const char *rid = inv->request_id;
    char name[NAME_BYTES_MAX];
    switch (inv->result) {
    case FC_INV_OK:
    case FC_INV_FUNCTION_ERROR: return answer_instance(c, inv, keep_alive);
    case FC_INV_TIMEOUT:
    case FC_INV_CRASHED:
    case FC_INV_INIT_FAILED: return answer_unhandled(c, inv, keep_alive);
    case FC_INV_NOT_STARTED: return answer_not_started(c, inv, keep_alive);
    case FC_INV_BAD_RESPONSE: /* the function's fault: through a trigger typed as such (§2.3) */
        return typed_error(c,
                           inv->kind == FC_INV_HTTP
                               ? "x-fc-error-type: UnhandledInvocationError\r\n"
                               : NULL,
                           keep_alive, http10, head, rid, FC_ERR_BAD_RESPONSE, inv->error);
    case FC_INV_THROTTLED:
        snprintf(name, sizeof(name), "concurrency limit exceeded for function '%s': %.100s",
                 inv->fn->name, inv->error);
        return platform_error(c, keep_alive, http10, head, rid,
                                 FC_ERR_RESOURCE_EXHAUSTED, name);
    case FC_INV_CANCELLED:
        return platform_error(c, false, http10, head, rid,
                                 FC_ERR_CLIENT_CLOSED_REQUEST);
    case FC_INV_REPLACE: /* could not be placed again: the rings are full */
        return platform_error(c, keep_alive, http10, head, rid,
                                 FC_ERR_RESOURCE_THROTTLED, "the scheduler is busy");
    case FC_INV_GONE:
        return platform_error(c, keep_alive, http10, head, rid,
                                 FC_ERR_FUNCTION_NOT_FOUND, inv->fn->name, inv->fn->service);
    case FC_INV_INTERNAL: break;
    }
    return platform_error(c, keep_alive, http10, head, rid, FC_ERR_INTERNAL);
}

void fc_dispatch_recycle(struct fc_io *io, struct fc_invocation *inv) {
    inv->conn = NULL;
    if (inv->fn != NULL)
        fc_function_unref(inv->fn); /* taken in dispatch_invoke */
    inv->fn = NULL;
    /* Keep the buffers for the next use, but not big ones. */
    if (inv->resp.cap > 64 * 1024)
        fc_buf_free(&inv->resp);
    if (inv->req.cap > 64 * 1024)
        fc_buf_free(&inv->req);
    fc_inv_pool_put(&io->invs, inv);
}

int fc_dispatch_async_complete(struct fc_conn *c, struct fc_async_req *req, bool keep_alive) {
    bool http10 = c->inv_http10;
    /* A submit's request id is its task's; a stop call has its own. */
    const char *rid = req->kind == FC_ASYNC_STOP ? req->stop_request_id : req->id;
    if (req->kind == FC_ASYNC_STOP) {
        if (req->result == -ENOENT)
            return platform_error(c, keep_alive, http10, false, rid, FC_ERR_TASK_NOT_FOUND,
                                  req->id);
        if (req->result == -ESTALE)
            return platform_error(c, keep_alive, http10, false, rid, FC_ERR_INVALID_ARGUMENT,
                                  "the invocation has already finished and cannot be stopped");
    } else if (req->result == -ENOSPC) {
        return platform_error(c, keep_alive, http10, false, rid, FC_ERR_RESOURCE_THROTTLED,
                              "the async store is full");
    }
    if (req->result == -EADDRINUSE)
        return platform_error(c, keep_alive, http10, false, rid, FC_ERR_INVALID_ARGUMENT,
                              "this stateful async invocation id is taken by another function");
    if (req->result < 0 && req->result != -EEXIST)
        return platform_error(c, keep_alive, http10, false, rid, FC_ERR_INTERNAL);
    /* Stored durably (or already stored under this id: idempotent). */
    char extra[FC_RECORD_ID_BYTES_MAX + 64] = "";
    if (req->stateful)
        snprintf(extra, sizeof(extra), "x-fc-stateful-async-invocation-id: %s\r\n", req->id);
    struct fc_response r = {.status = req->kind == FC_ASYNC_STOP ? 200 : 202,
                            .request_id = rid,
                            .keep_alive = keep_alive,
                            .http10 = http10,
                            .extra = extra};
    return fc_response_full(&c->out, &r, NULL, false) < 0 ? 500 : r.status;
}
