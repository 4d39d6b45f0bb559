/* tasks.c — FC's task API for asynchronous invocations ("stateful async
 * invocations", CONTRACT.md §5.6):
 *
 *   GET /{ver}/services/{s}/functions/{f}/stateful-async-invocations[?...]  list
 *   GET .../stateful-async-invocations/{id}                                 one task
 *   PUT .../stateful-async-invocations/{id}                                 stop it
 *
 * Reads are read-only LMDB transactions on the io thread (the store's
 * readers never block its writer); a stop goes to the store thread like a
 * submit and is answered when its commit is durable. JSON by jansson. */
#include "io/tasks.h"

#include "core/log.h"
#include "io/router.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_LIMIT_DEFAULT 50u
#define QUERY_VALUE_BYTES_MAX 256u

static bool slice_is(struct fc_slice s, const char *lit) {
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* "services/{s}/functions/{f}/stateful-async-invocations[/{id}]". */
static bool task_path(struct fc_slice path, struct fc_slice *svc, struct fc_slice *fn,
                      struct fc_slice *id) {
    const char *p = path.ptr, *end = path.ptr + path.len;
    if (!slice_is(fc_route_segment(&p, end), "services"))
        return false;
    *svc = fc_route_segment(&p, end);
    const char *dot = memchr(svc->ptr, '.', svc->len); /* {s}.{qualifier} */
    if (dot != NULL)
        svc->len = (uint32_t)(dot - svc->ptr);
    if (svc->len == 0 || !slice_is(fc_route_segment(&p, end), "functions"))
        return false;
    *fn = fc_route_segment(&p, end);
    if (fn->len == 0 || !slice_is(fc_route_segment(&p, end), "stateful-async-invocations"))
        return false;
    *id = fc_route_segment(&p, end);
    return p == end;
}

static int hex(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The percent-decoded value of query parameter `name` into out (NUL-ended).
 * Returns true when present and well formed. */
static bool query_get(struct fc_slice q, const char *name, char out[QUERY_VALUE_BYTES_MAX]) {
    size_t nlen = strlen(name);
    const char *p = q.ptr, *end = q.ptr + q.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t o = 0;
            for (const char *v = p + nlen + 1; v < stop; v++) {
                if (o + 1 >= QUERY_VALUE_BYTES_MAX)
                    return false;
                if (*v == '%' && stop - v >= 3 && hex(v[1]) >= 0 && hex(v[2]) >= 0) {
                    out[o++] = (char)(hex(v[1]) * 16 + hex(v[2]));
                    v += 2;
                } else if (*v == '%') {
                    return false;
                } else {
                    out[o++] = *v == '+' ? ' ' : *v;
                }
            }
            out[o] = '\0';
            return true;
        }
        p = stop + (amp != NULL);
    }
    return false;
}

static json_t *slice_json(struct fc_slice s) {
    return json_stringn(s.ptr ? s.ptr : "", s.len);
}

/* One task as FC's StatefulAsyncInvocation object. */
static json_t *task_json(const struct fc_job *j, bool with_payload) {
    json_t *o = json_object();
    json_object_set_new(o, "serviceName", slice_json(j->service));
    json_object_set_new(o, "functionName", slice_json(j->function));
    json_object_set_new(o, "qualifier", j->qualifier.len ? slice_json(j->qualifier)
                                                         : json_string("LATEST"));
    json_object_set_new(o, "invocationId", slice_json(j->request_id));
    json_object_set_new(o, "requestId", slice_json(j->request_id));
    json_object_set_new(o, "status", json_string(fc_job_state_name(j->state)));
    json_object_set_new(o, "startedTime", json_integer((json_int_t)j->created_ms));
    json_object_set_new(o, "endTime", json_integer((json_int_t)j->ended_ms));
    json_object_set_new(o, "durationMs", json_integer((json_int_t)j->duration_ms));
    /* attempts counts finished attempts: a running one is retry number
     * `attempts`; a finished job retried attempts - 1 times. */
    uint32_t retried = j->state == FC_JOB_RUNNING ? j->attempts : j->attempts ? j->attempts - 1 : 0;
    json_object_set_new(o, "alreadyRetriedTimes", json_integer((json_int_t)retried));
    json_object_set_new(o, "instanceId", slice_json(j->instance_id));
    json_object_set_new(o, "invocationErrorMessage", slice_json(j->error));
    json_object_set_new(o, "destinationStatus", slice_json(j->destination_status));
    json_object_set_new(o, "returnPayload", slice_json(j->result));
    if (with_payload)
        json_object_set_new(o, "invocationPayload", slice_json(j->payload));
    json_t *events = json_array();
    for (uint32_t i = 0; i < j->events_count; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "eventId",
                            json_integer((json_int_t)(j->events_total - j->events_count + i)));
        json_object_set_new(e, "status", json_string(fc_job_state_name(j->events[i].state)));
        json_object_set_new(e, "timestamp", json_integer((json_int_t)j->events[i].time_ms));
        json_object_set_new(e, "eventDetail", slice_json(j->events[i].detail));
        json_array_append_new(events, e);
    }
    json_object_set_new(o, "events", events);
    return o;
}

/* Answer 200 with the JSON document (consumed). */
static int answer_json(struct fc_conn *c, json_t *doc, bool keep_alive, const char *rid) {
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return fc_response_error(&c->out, keep_alive, c->inv_http10, false, rid, FC_ERR_INTERNAL);
    struct fc_response r = {.status = 200,
                            .request_id = rid,
                            .content_type = "application/json",
                            .content_length = strlen(text),
                            .keep_alive = keep_alive,
                            .http10 = c->inv_http10};
    int rc = fc_response_full(&c->out, &r, text, false);
    free(text);
    return rc < 0 ? 500 : 200;
}

struct list_ctx {
    json_t *arr;
    bool with_payload;
};

static int list_payload_cb(void *arg, const struct fc_job *job) {
    struct list_ctx *ctx = arg;
    json_array_append_new(ctx->arr, task_json(job, ctx->with_payload));
    return 0;
}

static int task_list(struct fc_conn *c, struct fc_jobs *jobs, struct fc_slice svc,
                     struct fc_slice fn, struct fc_slice query, bool keep_alive, const char *rid) {
    char v[QUERY_VALUE_BYTES_MAX], prefix[QUERY_VALUE_BYTES_MAX] = "",
                                   token[QUERY_VALUE_BYTES_MAX] = "";
    struct fc_jobs_query q = {.service = svc, .function = fn, .limit = LIST_LIMIT_DEFAULT};
    if (query_get(query, "limit", v))
        q.limit = (uint32_t)strtoul(v, NULL, 10);
    if (query_get(query, "status", v) && (q.state = (uint8_t)fc_job_state_parse(v, strlen(v))) == 0)
        q.limit = 0; /* an unknown status: refused below */
    if (query_get(query, "startedTimeBegin", v))
        q.created_ms_begin = strtoull(v, NULL, 10);
    if (query_get(query, "startedTimeEnd", v))
        q.created_ms_end = strtoull(v, NULL, 10);
    q.descending = query_get(query, "sortOrderByTime", v) && strcmp(v, "desc") == 0;
    q.with_payload = query_get(query, "includePayload", v) && strcmp(v, "true") == 0;
    if (query_get(query, "invocationIdPrefix", prefix))
        q.id_prefix = (struct fc_slice){prefix, (uint32_t)strlen(prefix)};
    if (query_get(query, "nextToken", token))
        q.token = (struct fc_slice){token, (uint32_t)strlen(token)};
    if (q.limit == 0 || q.limit > FC_JOBS_LIST_LIMIT_MAX)
        return fc_response_error(&c->out, keep_alive, c->inv_http10, false, rid,
                                 FC_ERR_INVALID_ARGUMENT,
                                 "limit must be 1..1000 and status one of Enqueued, Running, "
                                 "Succeeded, Failed, Stopped, Expired");
    char next[FC_JOBS_TOKEN_BYTES_MAX] = "";
    struct list_ctx ctx = {json_array(), q.with_payload};
    int rc = fc_jobs_list(jobs, &q, next, &ctx, list_payload_cb);
    if (rc < 0) {
        json_decref(ctx.arr);
        return fc_response_error(&c->out, keep_alive, c->inv_http10, false, rid,
                                 rc == -EINVAL ? FC_ERR_INVALID_ARGUMENT : FC_ERR_INTERNAL,
                                 "bad nextToken or filter");
    }
    json_t *doc = json_object();
    if (json_array_size(ctx.arr) > 0) /* absent when empty, as FC (CONTRACT.md §5.6) */
        json_object_set_new(doc, "invocations", ctx.arr);
    else
        json_decref(ctx.arr);
    json_object_set_new(doc, "nextToken", next[0] ? json_string(next) : json_null());
    return answer_json(c, doc, keep_alive, rid);
}

static int task_get(struct fc_conn *c, struct fc_jobs *jobs, struct fc_slice svc,
                    struct fc_slice fn, struct fc_slice id, bool keep_alive, const char *rid) {
    struct fc_buf buf = {0};
    struct fc_job job;
    int rc = fc_jobs_get(jobs, id.ptr, id.len, true, &buf, &job);
    char name[FC_RECORD_ID_BYTES_MAX + 1];
    snprintf(name, sizeof(name), "%.*s", (int)id.len, id.ptr);
    if (rc == 0 && (job.service.len != svc.len || memcmp(job.service.ptr, svc.ptr, svc.len) ||
                    job.function.len != fn.len || memcmp(job.function.ptr, fn.ptr, fn.len)))
        rc = -ENOENT; /* another function's task */
    int status;
    if (rc == -ENOENT || rc == -EINVAL)
        status = fc_response_error(&c->out, keep_alive, c->inv_http10, false, rid,
                                   FC_ERR_TASK_NOT_FOUND, name);
    else if (rc < 0)
        status = fc_response_error(&c->out, keep_alive, c->inv_http10, false, rid,
                                   FC_ERR_INTERNAL);
    else
        status = answer_json(c, task_json(&job, true), keep_alive, rid);
    fc_buf_free(&buf);
    return status;
}

static int task_stop(struct fc_conn *c, struct fc_slice svc, struct fc_slice fn,
                     struct fc_slice id, bool keep_alive, const char *rid) {
    struct fc_io *io = c->io;
    if (io->free_areqs == NULL || id.len > FC_RECORD_ID_BYTES_MAX)
        return fc_response_error(&c->out, keep_alive, c->inv_http10, false, rid,
                                 id.len > FC_RECORD_ID_BYTES_MAX ? FC_ERR_INVALID_ARGUMENT
                                                                 : FC_ERR_RESOURCE_THROTTLED,
                                 "cannot take a stop request now");
    struct fc_async_req *ar = io->free_areqs;
    ar->kind = FC_ASYNC_STOP;
    ar->io_index = (uint16_t)io->index;
    ar->conn = c;
    ar->stateful = false;
    snprintf(ar->id, sizeof(ar->id), "%.*s", (int)id.len, id.ptr);
    snprintf(ar->stop_request_id, sizeof(ar->stop_request_id), "%s", rid);
    snprintf(ar->scope, sizeof(ar->scope), "%.*s/%.*s", (int)svc.len, svc.ptr, (int)fn.len,
             fn.ptr);
    if (fc_async_submit(io->async, ar) < 0)
        return fc_response_error(&c->out, keep_alive, c->inv_http10, false, rid,
                                 FC_ERR_RESOURCE_THROTTLED, "the async store is busy");
    io->free_areqs = ar->next_free;
    c->areq = ar;
    snprintf(c->async_method, sizeof(c->async_method), "PUT");
    snprintf(c->async_target, sizeof(c->async_target), "stateful-async-invocations/%s", ar->id);
    return 0;
}

bool fc_tasks_route(const struct fc_route *route) {
    struct fc_slice svc, fn, id;
    return task_path(route->path, &svc, &fn, &id);
}

int fc_tasks_dispatch(struct fc_conn *c, const struct fc_http_req *req,
                      const struct fc_route *route, bool keep_alive, const char *rid) {
    struct fc_slice svc, fn, id;
    if (!task_path(route->path, &svc, &fn, &id))
        return -1;
    c->inv_http10 = req->minor_version == 0;
    struct fc_jobs *jobs = c->io->async ? fc_async_jobs(c->io->async) : NULL;
    if (jobs == NULL)
        return fc_response_error(&c->out, keep_alive, c->inv_http10, false, rid,
                                 FC_ERR_RESOURCE_THROTTLED, "the async store is not available");
    if (req->method_id == FC_HTTP_GET && id.len == 0)
        return task_list(c, jobs, svc, fn, route->query, keep_alive, rid);
    if (req->method_id == FC_HTTP_GET)
        return task_get(c, jobs, svc, fn, id, keep_alive, rid);
    if (req->method_id == FC_HTTP_PUT && id.len > 0)
        return task_stop(c, svc, fn, id, keep_alive, rid);
    return -1;
}
