/* async.c — the store thread; see async.h. */
#include "core/async.h"

#include "core/assert.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/ring.h"
#include "core/uring.h"
#include "core/wheel.h"
#include "core/worker.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define OPS_MAX FC_JOBS_BATCH_MAX
#define RESULT_PREVIEW_BYTES FC_RECORD_RESULT_BYTES_DEFAULT
#define BACKOFF_FIRST_MS 1000u
#define THROTTLE_RETRY_MS 1000u
#define LEASE_SLACK_MS 60000u /* a Running job's lease outlives its timeout by this */
#define RETRY_LATER_MS 10u    /* no free invocation: try the due job again soon */
#define HTTP_DEST_TRIES 3u    /* HTTP destination deliveries, 1 s then 2 s apart */
#define HTTP_DEST_TIMEOUT_MS 5000u

/* Store-thread CQE tags (user_data = loaded pointer | tag). 1 is the eventfd. */
enum { OP_HTTP_CONNECT = 2, OP_HTTP_SEND, OP_HTTP_RECV };

/* A job loaded from LMDB: due soon, or running. Its decoded record (slices
 * into `rec`) is what the next update rewrites. */
struct loaded {
    struct fc_wheel_entry timer;
    struct fc_job job;
    struct fc_buf rec;
    struct fc_invocation *inv; /* while running */
    bool stop;                 /* a stop arrived while running */
    bool in_batch;             /* an op of the current batch writes `job` */
    bool used;                 /* not on the free list */
    char dest_id[FC_REQID_LEN + 1]; /* the destination job this run's end appends */
    char dest_type[64];
    struct fc_buf dest_event;
    /* An HTTP destination being delivered (after the final state commits). */
    bool http_pending;
    int http_fd;
    uint32_t http_tries;
    size_t http_sent;
    char http_resp[16]; /* "HTTP/1.1 200" is all we read */
    uint32_t http_resp_len;
    struct fc_http_url http_url;
    struct fc_wheel_entry http_timer;
    char error[FC_RECORD_ERROR_BYTES_MAX + 1];
    char detail[FC_RECORD_EVENT_DETAIL_BYTES_MAX + 1];
    struct loaded *next_free;
};

/* An op of the next group commit and what to do once it is durable. */
struct pending {
    struct fc_async_req *req;   /* SUBMIT/STOP: hand back to its io thread */
    bool new_job;               /* a timer's or destination's new job (no request behind it) */
    struct loaded *loaded;      /* the op writes this loaded job's record */
    bool done;                  /* ...which has finished a run: reschedule or recycle */
    struct fc_invocation *inv;  /* recycle after the commit (the op points into it) */
    struct fc_job job;          /* SUBMIT/STOP: the record */
};

/* A timer trigger's schedule. The job it appends borrows id and event. */
struct timer {
    struct fc_wheel_entry entry;
    const struct fc_function *fn;
    const struct fc_timer *t;
    int64_t next_s; /* wall clock */
    char id[FC_REQID_LEN + 1];
    struct fc_buf event;
};

struct fc_async {
    const struct fc_config *cfg;
    struct fc_sched *sched;
    struct fc_catalog_view view; /* the catalog this thread reads (core/registry.h) */
    uint32_t index; /* ours in the scheduler */
    struct fc_jobs *jobs;
    pthread_t thread;
    int wake_fd;
    uint64_t wake_value;
    _Atomic bool stop;
    uint64_t boot_id;
    struct io_uring ring;
    struct fc_wheel wheel;
    uint64_t now_ms; /* monotonic */
    struct fc_ring *in, *out; /* [io_count]: requests in, finished requests out */
    bool *out_pushed;
    struct fc_inv_pool invs;
    struct loaded *slots, *free_loaded;
    uint32_t slots_touched; /* slots[0..slots_touched) used at least once; the rest stay
                               untouched (not resident) until load reaches them */
    uint32_t loaded_count;
    struct fc_jobs_due_cursor cursor; /* everything due up to here is loaded */
    struct timer *timers;
    uint32_t timers_count;
    struct fc_reqid_gen ids;
    struct fc_jobs_op ops[OPS_MAX];
    struct pending pend[OPS_MAX];
    uint32_t ops_count;
};

static uint64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The monotonic millisecond at which wall-clock due_ms arrives, rounded up:
 * computed from both clocks read now (not the loop's cached time, which a
 * commit may have left milliseconds behind), in microseconds, so a job never
 * runs even a millisecond early. */
static uint64_t mono_due_ms(uint64_t due_ms) {
    struct timespec w, m;
    clock_gettime(CLOCK_REALTIME, &w);
    clock_gettime(CLOCK_MONOTONIC, &m);
    int64_t wall_us = (int64_t)w.tv_sec * 1000000 + w.tv_nsec / 1000;
    int64_t mono_us = (int64_t)m.tv_sec * 1000000 + m.tv_nsec / 1000;
    int64_t in_us = (int64_t)due_ms * 1000 - wall_us;
    if (in_us < 0)
        in_us = 0;
    return (uint64_t)((mono_us + in_us + 999) / 1000);
}

static struct fc_slice cstr(const char *s) {
    return (struct fc_slice){s, (uint32_t)strlen(s)};
}

/* ---- the group commit ------------------------------------------------------------ */

/* The next op of the batch, writing *job (which must stay valid until the
 * commit: the pending's own copy, or a loaded job's). */
static struct pending *op_add(struct fc_async *a, uint8_t kind, uint8_t expect,
                              const struct fc_job *job) {
    FC_ASSERT(a->ops_count < OPS_MAX);
    struct pending *p = &a->pend[a->ops_count];
    *p = (struct pending){0};
    a->ops[a->ops_count] = (struct fc_jobs_op){
        .kind = kind, .expect_state = expect, .job = job ? job : &p->job};
    a->ops_count++;
    return p;
}

/* Wake the io threads that got replies (after a commit, or replies that
 * needed none). */
static void wake_io_threads(struct fc_async *a) {
    for (uint32_t i = 0; i < a->sched->io_count - 1; i++) {
        if (a->out_pushed[i]) {
            a->out_pushed[i] = false;
            fc_sched_io_wake(a->sched, i, &a->ring);
        }
    }
}

static void reply(struct fc_async *a, struct fc_async_req *req, int result) {
    uint16_t io = req->io_index; /* once pushed, req is the io thread's again */
    req->result = result;
    void *item = req;
    uint32_t n = fc_ring_push_burst(&a->out[io], &item, 1);
    FC_ASSERT(n == 1); /* FC_ASYNC_REQS_MAX per io thread fit the ring */
    a->out_pushed[io] = true;
}

static void loaded_schedule(struct fc_async *a, struct loaded *l);
static void loaded_free(struct fc_async *a, struct loaded *l);
static void stored_enqueued(struct fc_async *a, const struct fc_job *job);
static void finish_job(struct fc_async *a, struct loaded *l, int state, const char *error);
static void http_start(struct fc_async *a, struct loaded *l);
static void http_done(struct fc_async *a, struct loaded *l, const char *why);
static bool same_function(struct fc_async *a, const struct fc_job *j);

/* Commit everything gathered this round in one write transaction, then act
 * on it: replies to io threads (only now may they answer 202), recycling. */
/* An invocation of ours is done with: drop its function, back to the pool. */
static void inv_release(struct fc_async *a, struct fc_invocation *inv) {
    if (inv->fn != NULL)
        fc_function_unref(inv->fn);
    inv->fn = NULL;
    fc_inv_pool_put(&a->invs, inv);
}

static void commit(struct fc_async *a) {
    if (a->ops_count == 0)
        return;
    int rc = fc_jobs_apply(a->jobs, a->ops, a->ops_count);
    if (rc < 0)
        FC_LOG_ERROR("async store commit of %u ops failed: %s", a->ops_count, strerror(-rc));
    for (uint32_t i = 0; i < a->ops_count; i++) {
        struct pending *p = &a->pend[i];
        int result = rc < 0 ? rc : a->ops[i].result;
        if (result < 0 && p->loaded != NULL)
            FC_LOG_WARN("async job %.*s: update failed: %s", (int)p->loaded->job.request_id.len,
                        p->loaded->job.request_id.ptr, strerror(-result));
        if (result < 0 && p->new_job) /* e.g. a destination payload over the async limit */
            FC_LOG_WARN("async job %.*s for %.*s/%.*s not stored: %s",
                        (int)p->job.request_id.len, p->job.request_id.ptr,
                        (int)p->job.service.len, p->job.service.ptr, (int)p->job.function.len,
                        p->job.function.ptr, strerror(-result));
        if (((p->req != NULL && p->req->kind == FC_ASYNC_SUBMIT) || p->new_job) && result == 0)
            stored_enqueued(a, &p->job);
        if (p->req != NULL && p->req->kind == FC_ASYNC_SUBMIT && result == -EEXIST &&
            !same_function(a, &p->job))
            result = -EADDRINUSE; /* the id is another function's task */
        if (p->req != NULL)
            reply(a, p->req, result);
        if (p->inv != NULL)
            inv_release(a, p->inv);
        if (p->loaded == NULL)
            continue;
        p->loaded->in_batch = false;
        if (!p->done)
            continue;
        if (result == 0 && p->loaded->http_pending) {
            http_start(a, p->loaded); /* the final state is durable: deliver */
        } else if (result == 0 && p->loaded->job.state == FC_JOB_ENQUEUED) {
            /* A retry: the record keeps the last attempt's tail, result and
             * instance; the loaded copy must drop them, they point into the
             * invocation recycled above. */
            struct fc_job *j = &p->loaded->job;
            j->log_tail = j->result = j->instance_id = (struct fc_slice){0};
            loaded_schedule(a, p->loaded);
        } else {
            loaded_free(a, p->loaded);
        }
    }
    a->ops_count = 0;
    wake_io_threads(a);
}

/* A task id that was stored before: is it this function's (an idempotent
 * repeat) or another's (a clash the caller must hear about)? */
static bool same_function(struct fc_async *a, const struct fc_job *j) {
    struct fc_buf buf = {0};
    struct fc_job old;
    bool same = fc_jobs_get(a->jobs, j->request_id.ptr, j->request_id.len, false, &buf, &old) ==
                    0 &&
                old.service.len == j->service.len && old.function.len == j->function.len &&
                memcmp(old.service.ptr, j->service.ptr, j->service.len) == 0 &&
                memcmp(old.function.ptr, j->function.ptr, j->function.len) == 0;
    fc_buf_free(&buf);
    return same;
}

/* Room for one more op this round; commit first when the batch is full. */
static void op_room(struct fc_async *a) {
    if (a->ops_count == OPS_MAX)
        commit(a);
}

/* ---- loaded jobs ----------------------------------------------------------------- */

static void due_fire_cb(struct fc_wheel_entry *e);
static void http_retry_cb(struct fc_wheel_entry *e);

static struct loaded *loaded_alloc(struct fc_async *a) {
    struct loaded *l = a->free_loaded;
    if (l != NULL) {
        a->free_loaded = l->next_free;
    } else if (a->slots_touched < FC_ASYNC_RUNNING_MAX) {
        l = &a->slots[a->slots_touched++];
        fc_wheel_entry_init(&l->timer, due_fire_cb);
        fc_wheel_entry_init(&l->http_timer, http_retry_cb);
        l->http_fd = -1;
    } else {
        return NULL;
    }
    a->loaded_count++;
    l->inv = NULL;
    l->stop = false;
    l->used = true;
    return l;
}

static void loaded_free(struct fc_async *a, struct loaded *l) {
    FC_ASSERT(l->used && l->inv == NULL);
    fc_wheel_unlink(&l->timer);
    l->used = false;
    l->next_free = a->free_loaded;
    a->free_loaded = l;
    FC_ASSERT(a->loaded_count > 0);
    a->loaded_count--;
}

/* Arm a loaded Enqueued job's timer at its due time (wall clock in the
 * record, monotonic in the wheel). */
static void loaded_schedule(struct fc_async *a, struct loaded *l) {
    fc_wheel_unlink(&l->timer);
    fc_wheel_link(&a->wheel, &l->timer, mono_due_ms(l->job.due_ms));
}

/* Find a loaded job by id (linear: at most FC_ASYNC_RUNNING_MAX). */
static struct loaded *loaded_find(struct fc_async *a, const char *id, size_t len) {
    for (uint32_t i = 0; i < a->slots_touched; i++) {
        struct loaded *l = &a->slots[i];
        if (l->used && l->job.request_id.len == len &&
            memcmp(l->job.request_id.ptr, id, len) == 0)
            return l;
    }
    return NULL;
}

/* Load a stored job into a slot (a fresh read: the record may have changed). */
static struct loaded *load(struct fc_async *a, const char *id, size_t len) {
    struct loaded *l = loaded_alloc(a);
    if (l == NULL)
        return NULL;
    int rc = fc_jobs_get(a->jobs, id, len, true, &l->rec, &l->job);
    if (rc < 0 || l->job.state != FC_JOB_ENQUEUED) {
        if (rc < 0 && rc != -ENOENT)
            FC_LOG_WARN("async job %.*s unreadable: %s", (int)len, id, strerror(-rc));
        loaded_free(a, l);
        return NULL;
    }
    return l;
}

/* Never stops the scan (fc_jobs_due moves its cursor past every job it
 * delivers): scan_due asks for no more jobs than there are free slots. */
static int due_cb(void *arg, const struct fc_job *job) {
    struct fc_async *a = arg;
    if (loaded_find(a, job->request_id.ptr, job->request_id.len) != NULL)
        return 0; /* loaded when it was appended */
    struct loaded *l = load(a, job->request_id.ptr, job->request_id.len);
    if (l != NULL)
        loaded_schedule(a, l);
    return 0;
}

/* Load what falls due within the horizon. The cursor remembers how far the
 * scan got, so each job is read once. */
static void scan_due(struct fc_async *a) {
    uint64_t until = wall_ms() + FC_ASYNC_HORIZON_MS;
    uint32_t room = FC_ASYNC_RUNNING_MAX - a->loaded_count;
    if (room == 0 || (a->cursor.id_len > 0 && a->cursor.due_ms >= until))
        return;
    int rc = fc_jobs_due(a->jobs, &a->cursor, until, room, a, due_cb);
    if (rc < 0)
        FC_LOG_WARN("async due scan: %s", strerror(-rc));
}

/* A job just stored or put back: load it now if the scan has passed its
 * due time (else the scan finds it). If no slot is free, rewind the scan so
 * it is not skipped. */
static void stored_enqueued(struct fc_async *a, const struct fc_job *job) {
    bool passed = a->cursor.id_len > 0 && job->due_ms <= a->cursor.due_ms;
    if (!passed)
        return;
    struct loaded *l = load(a, job->request_id.ptr, job->request_id.len);
    if (l != NULL)
        loaded_schedule(a, l);
    else
        memset(&a->cursor, 0, sizeof(a->cursor));
}

/* ---- requests from io threads ---------------------------------------------------- */

/* Append a new Enqueued job of fn to the batch. id, content_type and payload
 * are borrowed until the commit. Returns its pending op. */
static struct pending *append_job(struct fc_async *a, const char *id,
                                  const struct fc_function *fn, const char *content_type,
                                  struct fc_slice payload, uint32_t delay_s) {
    op_room(a);
    struct pending *p = op_add(a, FC_JOBS_OP_APPEND, 0, NULL);
    uint64_t now = wall_ms();
    p->job = (struct fc_job){
        .request_id = cstr(id),
        .service = cstr(fn->service),
        .function = cstr(fn->name),
        .state = FC_JOB_ENQUEUED,
        .created_ms = now,
        .due_ms = now + (uint64_t)delay_s * 1000,
        .retries_max = fn->async_retries,
        .event_age_max_s = fn->async_max_age_s,
        .content_type = cstr(content_type),
        .payload = payload,
    };
    fc_job_event_push(&p->job, FC_JOB_ENQUEUED, now, NULL, 0);
    return p;
}

static void on_submit(struct fc_async *a, struct fc_async_req *req) {
    struct fc_slice payload = {req->payload.data, (uint32_t)req->payload.len};
    struct pending *p =
        append_job(a, req->id, req->fn, req->content_type, payload, req->delay_s);
    p->req = req;
    p->job.stateful = req->stateful;
}

/* Is job j the path's function's (req->scope "service/function")? */
static bool in_scope(const struct fc_async_req *req, const struct fc_job *j) {
    size_t s = j->service.len, f = j->function.len;
    return strlen(req->scope) == s + 1 + f && memcmp(req->scope, j->service.ptr, s) == 0 &&
           req->scope[s] == '/' && memcmp(req->scope + s + 1, j->function.ptr, f) == 0;
}

static void on_stop(struct fc_async *a, struct fc_async_req *req) {
    struct loaded *l = loaded_find(a, req->id, strlen(req->id));
    if (l != NULL && !in_scope(req, &l->job)) {
        reply(a, req, -ENOENT);
        return;
    }
    if (l != NULL && l->inv != NULL) {
        /* Running: cancel it; the completion records Stopped. */
        l->stop = true;
        if (fc_sched_cancel(a->sched, l->inv) < 0)
            FC_LOG_WARN("stop of %s not delivered (ring full)", req->id);
        reply(a, req, 0);
        return;
    }
    struct fc_buf buf = {0};
    struct fc_job job;
    int rc = fc_jobs_get(a->jobs, req->id, strlen(req->id), false, &buf, &job);
    if (rc == 0 && !in_scope(req, &job))
        rc = -ENOENT;
    if (rc < 0 || fc_job_state_is_final(job.state)) {
        reply(a, req, rc < 0 ? rc : -ESTALE);
        fc_buf_free(&buf);
        return;
    }
    if (l != NULL && l->in_batch)
        commit(a);
    if (l != NULL)
        loaded_free(a, l); /* loaded but not started: it will not run */
    op_room(a);
    struct pending *p = op_add(a, FC_JOBS_OP_UPDATE, FC_JOB_ENQUEUED, NULL);
    p->req = req;
    p->job = job; /* slices into buf: kept alive in req->payload below */
    p->job.state = FC_JOB_STOPPED;
    p->job.ended_ms = wall_ms();
    fc_job_event_push(&p->job, FC_JOB_STOPPED, p->job.ended_ms, NULL, 0);
    fc_buf_free(&req->payload);
    req->payload = buf; /* owns the record bytes until the io thread recycles req */
}

/* Take every request the io threads have queued. */
static void drain_requests(struct fc_async *a) {
    for (uint32_t io = 0; io < a->sched->io_count - 1; io++) {
        void *items[64];
        uint32_t n;
        while ((n = fc_ring_pop_burst(&a->in[io], items, 64)) > 0) {
            for (uint32_t i = 0; i < n; i++) {
                struct fc_async_req *req = items[i];
                if (req->kind == FC_ASYNC_SUBMIT)
                    on_submit(a, req);
                else
                    on_stop(a, req);
            }
        }
    }
}

/* ---- running due jobs ------------------------------------------------------------- */

/* The request the instance gets: POST /invoke with the event (an HTTP
 * trigger's job stored the whole instance request instead). */
static int build_request(struct fc_invocation *inv, const struct fc_job *j) {
    const struct fc_function *fn = inv->fn;
    inv->head.len = inv->req.len = 0;
    inv->body_off = 0;
    inv->body_len = j->payload.len;
    if (fc_buf_append(&inv->req, j->payload.ptr, j->payload.len) < 0)
        return -ENOMEM;
    if (inv->kind == FC_INV_HTTP) { /* the stored request goes out as it is */
        inv->body_len = 0;
        struct fc_buf t = inv->head;
        inv->head = inv->req;
        inv->req = t;
        return 0;
    }
    int rc = fc_buf_printf(&inv->head,
                           "POST /invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %.*s\r\n"
                           "Content-Length: %u\r\nx-fc-invocation-type: Async\r\n",
                           (int)j->content_type.len, j->content_type.ptr, j->payload.len);
    if (rc == 0)
        rc = fc_invocation_fc_headers(&inv->head, fn, inv->request_id, "/invoke", j->attempts);
    return rc == 0 ? fc_buf_append(&inv->head, "\r\n", 2) : rc;
}

/* The store thread's own context, for wheel callbacks. */
static _Thread_local struct fc_async *self;

/* The catalog of this loop pass. Only timers_refresh moves the view, at the
 * top of a pass after a commit: timers and jobs borrow from the catalog it
 * holds (function names, timer settings) until then. */
static const struct fc_catalog *catalog(struct fc_async *a) {
    return a->view.cat;
}


/* A due job's timer fired: run it (or retire it when too old). */
static void due_fire_cb(struct fc_wheel_entry *e) {
    struct loaded *l = (struct loaded *)((char *)e - offsetof(struct loaded, timer));
    struct fc_async *a = self;
    struct fc_job *j = &l->job;
    uint64_t now = wall_ms();
    const struct fc_function *fn = fc_catalog_find(catalog(a), j->service.ptr,
                                                   j->service.len, j->function.ptr,
                                                   j->function.len);
    if (fn == NULL || now - j->created_ms > (uint64_t)j->event_age_max_s * 1000) {
        finish_job(a, l, fn == NULL ? FC_JOB_FAILED : FC_JOB_EXPIRED,
                   fn == NULL ? "the function no longer exists" : "maximum event age exceeded");
        return;
    }
    struct fc_invocation *inv = fc_inv_pool_take(&a->invs);
    if (inv == NULL) {
        fc_wheel_link(&a->wheel, &l->timer, a->now_ms + RETRY_LATER_MS);
        return;
    }
    /* Relaxed: published by the submit ring's release. */
    atomic_fetch_add_explicit(&inv->generation, 1, memory_order_relaxed);
    fc_function_ref(fn); /* dropped by inv_release */
    inv->fn = fn;
    inv->conn = l;
    inv->kind = j->content_type.len == sizeof(FC_ASYNC_HTTP_REQUEST) - 1 &&
                        memcmp(j->content_type.ptr, FC_ASYNC_HTTP_REQUEST, j->content_type.len) == 0
                    ? FC_INV_HTTP
                    : FC_INV_EVENT;
    inv->want_log_tail = true; /* kept in the record */
    inv->head_only = false;
    snprintf(inv->request_id, sizeof(inv->request_id), "%.*s", (int)j->request_id.len,
             j->request_id.ptr);
    inv->log_tail.len = inv->resp.len = 0;
    if (build_request(inv, j) < 0 || fc_sched_submit(a->sched, inv) < 0) {
        inv_release(a, inv);
        fc_wheel_link(&a->wheel, &l->timer, a->now_ms + RETRY_LATER_MS);
        return;
    }
    l->inv = inv;
    /* Running, with a lease past the function's timeout: if fcd dies now,
     * the next start puts it back (at-least-once). */
    j->state = FC_JOB_RUNNING;
    j->started_ms = now;
    j->lease_boot = a->boot_id;
    j->lease_until_ms = now + (uint64_t)fn->timeout_s * 1000 + LEASE_SLACK_MS;
    fc_job_event_push(j, FC_JOB_RUNNING, now, NULL, 0);
    op_room(a);
    op_add(a, FC_JOBS_OP_UPDATE, 0, j)->loaded = l;
    l->in_batch = true;
}

/* ---- finished runs ---------------------------------------------------------------- */

/* How many destination hops led to a job (0 for a client's job), carried
 * in its content type. */
static unsigned destination_depth(const struct fc_job *j) {
    static const char key[] = "fcd-destination-depth=";
    const char *p = memmem(j->content_type.ptr, j->content_type.len, key, sizeof(key) - 1);
    return p ? (unsigned)strtoul(p + sizeof(key) - 1, NULL, 10) : 0;
}

static json_t *slice_json(struct fc_slice s) {
    return json_stringn(s.ptr ? s.ptr : "", s.len);
}

/* A finished job whose function names a destination for this outcome: the
 * destination function gets an async job with FC's callback payload
 * (CONTRACT.md §7), appended in the same commit as the final state. */
static void destination(struct fc_async *a, struct loaded *l, const char *error) {
    struct fc_job *j = &l->job;
    const struct fc_function *fn = fc_catalog_find(catalog(a), j->service.ptr,
                                                   j->service.len, j->function.ptr,
                                                   j->function.len);
    bool ok = j->state == FC_JOB_SUCCEEDED;
    const char *target = fn == NULL ? "" : ok ? fn->on_success : fn->on_failure;
    if (target[0] == '\0' || j->state == FC_JOB_STOPPED)
        return;
    bool http = strncmp(target, "http://", 7) == 0;
    const char *slash = strchr(target, '/');
    const struct fc_function *dest =
        http ? NULL
             : fc_catalog_find(catalog(a), target, (size_t)(slash - target), slash + 1,
                               strlen(slash + 1));
    unsigned depth = destination_depth(j);
    if (!http && (dest == NULL || depth >= FC_ASYNC_DESTINATION_DEPTH_MAX)) {
        j->destination_status = cstr(dest ? "Skipped: destination chain too deep"
                                          : "Failed: no such destination function");
        return;
    }
    json_t *doc = json_pack("{s:I, s:{s:o, s:s+++, s:s, s:I}, s:o, s:{s:i, s:s}, s:o}",
        "timestamp", (json_int_t)wall_ms(),
        "requestContext", "requestId", slice_json(j->request_id),
        "functionArn", "acs:fc:local:local:services/", fn->service, "/functions/", fn->name,
        "condition", ok ? "" : error ? error : "Failed",
        "approximateInvokeCount", (json_int_t)j->attempts,
        "requestPayload", slice_json(j->payload),
        "responseContext", "statusCode", 200, "functionError", ok ? "" : "UnhandledInvocationError",
        "responsePayload", slice_json(j->result));
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL)
        return;
    l->dest_event.len = 0;
    if (http) { /* POSTed after the final state commits (http_start) */
        fc_http_url_parse(target, &l->http_url); /* validated with the config */
        fc_buf_printf(&l->dest_event,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      l->http_url.path, l->http_url.host, strlen(text));
        fc_buf_append(&l->dest_event, text, strlen(text));
        free(text);
        l->http_pending = true;
        l->http_tries = 0;
        j->destination_status = cstr("Pending");
        return;
    }
    fc_buf_append(&l->dest_event, text, strlen(text));
    free(text);
    fc_reqid_next(&a->ids, l->dest_id);
    snprintf(l->dest_type, sizeof(l->dest_type), "application/json; fcd-destination-depth=%u",
             depth + 1);
    append_job(a, l->dest_id, dest, l->dest_type,
               (struct fc_slice){l->dest_event.data, (uint32_t)l->dest_event.len}, 0)
        ->new_job = true;
    j->destination_status = cstr("Succeeded");
}

/* Record a final state (or a retry) of loaded job l in the next commit; l
 * is recycled or rescheduled once that commit is durable. */
static struct pending *record(struct fc_async *a, struct loaded *l, const char *error) {
    struct fc_job *j = &l->job;
    if (fc_job_state_is_final(j->state))
        destination(a, l, error);
    if (error != NULL) {
        snprintf(l->error, sizeof(l->error), "%s", error);
        j->error = cstr(l->error);
        snprintf(l->detail, sizeof(l->detail), "{\"Error\":\"%.200s\"}", error);
    }
    fc_job_event_push(j, j->state, wall_ms(), error ? l->detail : NULL,
                      error ? strlen(l->detail) : 0);
    j->lease_boot = j->lease_until_ms = 0;
    op_room(a);
    struct pending *p = op_add(a, FC_JOBS_OP_UPDATE, 0, j);
    p->loaded = l;
    p->done = true;
    l->in_batch = true;
    return p;
}

static void finish_job(struct fc_async *a, struct loaded *l, int state, const char *error) {
    l->job.state = (uint8_t)state;
    l->job.ended_ms = wall_ms();
    record(a, l, error);
}

/* Exponential back-off: 1 s, 2 s, 4 s, ... capped. */
static uint64_t backoff_ms(uint32_t attempts) {
    uint64_t ms = BACKOFF_FIRST_MS << (attempts > 20 ? 20 : attempts - 1);
    return ms < FC_ASYNC_BACKOFF_MS_MAX ? ms : FC_ASYNC_BACKOFF_MS_MAX;
}

/* What an invocation's end means for its job: FC's error text for the
 * record, and whether it counts as an attempt. */
static const char *failure_text(const struct fc_invocation *inv, char *buf, size_t cap) {
    switch (inv->result) {
    case FC_INV_FUNCTION_ERROR: return "UnhandledInvocationError";
    case FC_INV_TIMEOUT:
        snprintf(buf, cap, "UnhandledInvocationError: Function timed out after %u seconds",
                 inv->fn->timeout_s);
        return buf;
    case FC_INV_CRASHED: return "UnhandledInvocationError: Process exited unexpectedly";
    case FC_INV_NOT_STARTED: return "FunctionNotStarted";
    case FC_INV_INIT_FAILED: return "UnhandledInvocationError: initialization failed";
    case FC_INV_BAD_RESPONSE: return "BadResponse";
    case FC_INV_THROTTLED: return "ResourceExhausted: no instance became free in time";
    default: return "InternalServerError";
    }
}

static void on_completion(struct fc_async *a, struct fc_invocation *inv) {
    struct loaded *l = inv->conn;
    FC_ASSERT(l != NULL && l->inv == inv);
    if (inv->result == FC_INV_REPLACE && fc_sched_submit(a->sched, inv) == 0)
        return; /* placed again on a worker that has the instances */
    if (l->in_batch)
        commit(a); /* its Running update must be durable before the next one */
    l->inv = NULL;
    struct fc_job *j = &l->job;
    uint64_t now = wall_ms();
    j->ended_ms = now;
    j->duration_ms = inv->duration_us / 1000;
    j->max_memory_kb = inv->max_memory_kb;
    j->instance_id = cstr(inv->instance_id);
    size_t tail = inv->log_tail.len;
    size_t keep = tail < FC_RECORD_LOG_TAIL_BYTES_MAX ? tail : FC_RECORD_LOG_TAIL_BYTES_MAX;
    j->log_tail = (struct fc_slice){inv->log_tail.data + tail - keep, (uint32_t)keep};
    const char *error = NULL;
    char buf[160];
    bool throttled = inv->result == FC_INV_THROTTLED || inv->result == FC_INV_INTERNAL ||
                     inv->result == FC_INV_REPLACE;
    if (l->stop || inv->result == FC_INV_CANCELLED) {
        j->state = FC_JOB_STOPPED;
    } else if (inv->result == FC_INV_OK) {
        j->attempts++;
        j->state = FC_JOB_SUCCEEDED;
        j->error = (struct fc_slice){0}; /* an earlier attempt's error no longer applies */
        size_t body = inv->resp.len - inv->resp_head_len;
        j->result = (struct fc_slice){inv->resp.data + inv->resp_head_len,
                                      (uint32_t)(body < RESULT_PREVIEW_BYTES ? body
                                                                             : RESULT_PREVIEW_BYTES)};
    } else {
        /* Throttling (and fcd stopping) does not use up an attempt. */
        j->attempts += !throttled;
        error = failure_text(inv, buf, sizeof(buf));
        bool again = throttled || j->attempts <= j->retries_max;
        j->state = again ? FC_JOB_ENQUEUED : FC_JOB_FAILED;
        j->due_ms = now + (throttled ? THROTTLE_RETRY_MS : backoff_ms(j->attempts));
    }
    if (j->state == FC_JOB_ENQUEUED && now - j->created_ms > (uint64_t)j->event_age_max_s * 1000)
        j->state = FC_JOB_EXPIRED;
    record(a, l, error)->inv = inv;
}

/* Take the invocations the workers finished for us. */
static void drain_completions(struct fc_async *a) {
    struct fc_invocation *done[64];
    uint32_t n;
    while ((n = fc_sched_poll(a->sched, a->index, done, 64)) > 0)
        for (uint32_t i = 0; i < n; i++)
            on_completion(a, done[i]);
}

/* ---- HTTP destinations -------------------------------------------------------------- */

/* One delivery attempt: connect, send the POST, read the status line; the
 * loaded job stays until it is recorded (destination_status) or given up. */
static void http_start(struct fc_async *a, struct loaded *l) {
    l->http_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    l->http_sent = l->http_resp_len = 0;
    l->http_tries++;
    if (l->http_fd < 0) {
        http_done(a, l, "cannot create a socket");
        return;
    }
    struct io_uring_sqe *sqe = fc_uring_sqe(&a->ring);
    io_uring_prep_connect(sqe, l->http_fd, (struct sockaddr *)&l->http_url.addr,
                          sizeof(l->http_url.addr));
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)l | OP_HTTP_CONNECT);
    fc_wheel_link(&a->wheel, &l->http_timer, mono_ms() + HTTP_DEST_TIMEOUT_MS);
}

static void http_retry_cb(struct fc_wheel_entry *e) {
    struct loaded *l = (struct loaded *)((char *)e - offsetof(struct loaded, http_timer));
    if (l->http_fd >= 0) { /* the attempt timed out: shutdown completes its op */
        shutdown(l->http_fd, SHUT_RDWR);
        return;
    }
    http_start(self, l);
}

/* An attempt ended: ok (why == NULL), retry later, or record the failure. */
static void http_done(struct fc_async *a, struct loaded *l, const char *why) {
    fc_wheel_unlink(&l->http_timer);
    if (l->http_fd >= 0)
        close(l->http_fd);
    l->http_fd = -1;
    if (why != NULL && l->http_tries < HTTP_DEST_TRIES) {
        fc_wheel_link(&a->wheel, &l->http_timer,
                      mono_ms() + ((uint64_t)BACKOFF_FIRST_MS << (l->http_tries - 1)));
        return;
    }
    if (why != NULL)
        FC_LOG_WARN("async job %.*s: HTTP destination failed: %s", (int)l->job.request_id.len,
                    l->job.request_id.ptr, why);
    snprintf(l->detail, sizeof(l->detail), "Failed: %s", why ? why : "");
    l->job.destination_status = cstr(why ? l->detail : "Succeeded");
    l->http_pending = false;
    op_room(a);
    struct pending *p = op_add(a, FC_JOBS_OP_UPDATE, 0, &l->job);
    p->loaded = l;
    p->done = true; /* freed once recorded */
    l->in_batch = true;
}

static void http_cqe(struct fc_async *a, struct loaded *l, unsigned op, int res) {
    if (res < 0 || (op == OP_HTTP_RECV && res == 0 && l->http_resp_len < 12)) {
        http_done(a, l, res < 0 ? strerror(-res) : "no response");
        return;
    }
    if (op == OP_HTTP_SEND)
        l->http_sent += (size_t)res;
    if (op == OP_HTTP_RECV)
        l->http_resp_len += (uint32_t)res;
    if (l->http_resp_len >= 12) { /* "HTTP/1.1 200": all we need */
        bool ok = memcmp(l->http_resp, "HTTP/1.", 7) == 0 && l->http_resp[9] == '2';
        http_done(a, l, ok ? NULL : "the endpoint did not answer 2xx");
        return;
    }
    struct io_uring_sqe *sqe = fc_uring_sqe(&a->ring);
    if (op != OP_HTTP_RECV && l->http_sent < l->dest_event.len) {
        io_uring_prep_send(sqe, l->http_fd, l->dest_event.data + l->http_sent,
                           l->dest_event.len - l->http_sent, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)l | OP_HTTP_SEND);
    } else {
        io_uring_prep_recv(sqe, l->http_fd, l->http_resp + l->http_resp_len,
                           sizeof(l->http_resp) - l->http_resp_len, 0);
        io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)l | OP_HTTP_RECV);
    }
}

/* ---- timer triggers ---------------------------------------------------------------- */

static void timer_arm(struct fc_async *a, struct timer *tm, int64_t after_s) {
    tm->next_s = fc_cron_next(&tm->t->schedule, after_s);
    if (tm->next_s == 0)
        return; /* never fires again (e.g. 31 February) */
    fc_wheel_link(&a->wheel, &tm->entry, mono_due_ms((uint64_t)tm->next_s * 1000));
}

/* A firing: append an async job with FC's timer event (fc-runtime-go-sdk
 * events/timer.go: triggerTime, triggerName, payload), then arm the next. */
static void timer_fire_cb(struct fc_wheel_entry *e) {
    struct timer *tm = (struct timer *)((char *)e - offsetof(struct timer, entry));
    struct fc_async *a = self;
    if (tm->event.len > 0)
        commit(a); /* the previous firing's job still borrows id and event */
    char when[32], name[2 * FC_FUNCTION_NAME_MAX + 8], payload[8192];
    time_t t = (time_t)tm->next_s;
    struct tm utc;
    gmtime_r(&t, &utc);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &utc);
    fc_json_escape(name, sizeof(name), tm->t->name, strlen(tm->t->name));
    if (fc_json_escape(payload, sizeof(payload), tm->t->payload, strlen(tm->t->payload)) < 0)
        payload[0] = '\0';
    tm->event.len = 0;
    fc_reqid_next(&a->ids, tm->id);
    fc_buf_printf(&tm->event, "{\"triggerTime\":\"%s\",\"triggerName\":\"%s\",\"payload\":\"%s\"}",
                  when, name, payload);
    append_job(a, tm->id, tm->fn, "application/json",
               (struct fc_slice){tm->event.data, (uint32_t)tm->event.len}, 0)
        ->new_job = true;
    timer_arm(a, tm, tm->next_s);
}

/* The schedule of an old timer for the same trigger (same function, name
 * and cron), or NULL: a catalog change must not restart @every timers. */
static const struct timer *timer_before(const struct timer *old, uint32_t n,
                                        const struct fc_function *fn, const struct fc_timer *t) {
    for (uint32_t i = 0; i < n; i++)
        if (old[i].fn->uid == fn->uid && strcmp(old[i].t->name, t->name) == 0 &&
            strcmp(old[i].t->cron, t->cron) == 0 && old[i].next_s != 0)
            return &old[i];
    return NULL;
}

/* Arm every enabled timer trigger of the catalog: from now at start
 * (firings missed while fcd was down are skipped: FC documents no catch-up,
 * and a backlog of cron firings after an outage would be a surprise), and
 * keeping the next firing of triggers that were already there. */
static int timers_start(struct fc_async *a, const struct timer *old, uint32_t old_count) {
    const struct fc_catalog *cat = catalog(a);
    uint32_t n = 0;
    for (uint32_t i = 0; i < cat->count; i++)
        n += cat->functions[i] ? cat->functions[i]->timers_count : 0;
    a->timers = calloc(n ? n : 1, sizeof(*a->timers));
    if (a->timers == NULL)
        return -ENOMEM;
    int64_t now_s = (int64_t)(wall_ms() / 1000);
    for (uint32_t i = 0; i < cat->count; i++) {
        const struct fc_function *fn = cat->functions[i];
        for (uint32_t k = 0; fn != NULL && k < fn->timers_count; k++) {
            if (!fn->timers[k].enabled)
                continue;
            struct timer *tm = &a->timers[a->timers_count++];
            tm->fn = fn;
            tm->t = &fn->timers[k];
            fc_wheel_entry_init(&tm->entry, timer_fire_cb);
            const struct timer *before = timer_before(old, old_count, fn, tm->t);
            if (before == NULL) {
                timer_arm(a, tm, now_s);
                continue;
            }
            tm->next_s = before->next_s;
            fc_wheel_link(&a->wheel, &tm->entry, mono_due_ms((uint64_t)tm->next_s * 1000));
        }
    }
    return 0;
}

/* Unlink and free timers[0..count) (after a commit: jobs borrow them). */
static void timers_free(struct timer *timers, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        fc_wheel_unlink(&timers[i].entry);
        fc_buf_free(&timers[i].event);
    }
    free(timers);
}

/* Top of a loop pass: when the catalog changed, commit what borrows from
 * the old one, move the view, and rebuild the timer triggers from it. */
static void timers_refresh(struct fc_async *a) {
    if (!fc_sched_catalog_moved(a->sched, &a->view))
        return;
    commit(a); /* a firing's job borrows its timer's id and event until committed */
    struct timer *old = a->timers;
    uint32_t old_count = a->timers_count;
    for (uint32_t i = 0; i < old_count; i++)
        fc_wheel_unlink(&old[i].entry);
    struct fc_catalog *keep = a->view.cat; /* old timers point into it until freed */
    fc_catalog_ref(keep);
    fc_registry_view(a->sched->registry, &a->view);
    a->timers = NULL;
    a->timers_count = 0;
    if (timers_start(a, old, old_count) < 0)
        FC_LOG_ERROR("store thread: out of memory for timer triggers");
    timers_free(old, old_count);
    fc_catalog_unref(keep);
}

/* ---- the thread ------------------------------------------------------------------- */

static void arm_wake(struct fc_async *a) {
    struct io_uring_sqe *sqe = fc_uring_sqe(&a->ring);
    io_uring_prep_read(sqe, a->wake_fd, &a->wake_value, sizeof(a->wake_value), 0);
    io_uring_sqe_set_data64(sqe, 1);
}

static bool work_waiting(struct fc_async *a) {
    for (uint32_t io = 0; io < a->sched->io_count - 1; io++)
        if (fc_ring_count(&a->in[io]) > 0)
            return true;
    return false;
}

static void *store_main(void *arg) {
    struct fc_async *a = arg;
    self = a;
    fc_log_thread_set("store");
    pthread_setname_np(pthread_self(), "store");
    struct fc_uring_features features;
    if (fc_uring_init(&a->ring, 64, &features) < 0) {
        FC_LOG_ERROR("store thread: io_uring setup failed");
        exit(1); /* async invocations cannot run */
    }
    fc_sched_io_register(a->sched, a->index, a->wake_fd, &a->ring, &features);
    a->now_ms = mono_ms();
    fc_wheel_init(&a->wheel, a->now_ms);
    fc_registry_view(a->sched->registry, &a->view);
    if (fc_reqid_init(&a->ids) < 0 || timers_start(a, NULL, 0) < 0) {
        FC_LOG_ERROR("store thread: cannot start timer triggers");
        exit(1);
    }
    arm_wake(a);
    /* Endless until stopped: gather, commit once, run what is due, sleep. */
    while (!atomic_load(&a->stop)) {
        a->now_ms = mono_ms();
        timers_refresh(a);
        drain_requests(a);
        drain_completions(a);
        fc_wheel_run(&a->wheel, a->now_ms);
        commit(a);
        wake_io_threads(a); /* replies that committed nothing (a stop refused) */
        scan_due(a);
        fc_log_flush();
        bool may_sleep = fc_sched_io_may_sleep(a->sched, a->index) && !work_waiting(a) &&
                         !fc_sched_catalog_moved(a->sched, &a->view);
        uint64_t until = fc_wheel_next_ms(&a->wheel);
        uint64_t horizon = a->now_ms + FC_ASYNC_HORIZON_MS / 2; /* rescan for new due jobs */
        int rc = fc_uring_wait(&a->ring, a->now_ms,
                               !may_sleep ? a->now_ms : until < horizon ? until : horizon);
        fc_sched_io_awake(a->sched, a->index);
        if (rc < 0) {
            FC_LOG_ERROR("store thread io_uring: %s", strerror(-rc));
            break;
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        bool woken = false; /* the eventfd read (user_data 1) came back: re-arm it */
        io_uring_for_each_cqe(&a->ring, head, cqe) {
            uint64_t data = cqe->user_data;
            woken |= data == 1;
            if (data > 1)
                http_cqe(a, (struct loaded *)(uintptr_t)(data & ~(uint64_t)7), data & 7, cqe->res);
            seen++;
        }
        io_uring_cq_advance(&a->ring, seen);
        if (woken)
            arm_wake(a);
    }
    commit(a);
    timers_free(a->timers, a->timers_count);
    fc_registry_view_release(&a->view);
    io_uring_queue_exit(&a->ring);
    return NULL;
}

int fc_async_start(const struct fc_config *cfg, struct fc_sched *sched, uint32_t sched_index,
                   struct fc_async **out) {
    struct fc_async *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    a->cfg = cfg;
    a->sched = sched;
    a->index = sched_index;
    uint32_t ios = sched->io_count - 1;
    a->in = aligned_alloc(64, ios * sizeof(*a->in));
    a->out = aligned_alloc(64, ios * sizeof(*a->out));
    a->out_pushed = calloc(ios, sizeof(*a->out_pushed));
    a->slots = calloc(FC_ASYNC_RUNNING_MAX, sizeof(*a->slots));
    a->wake_fd = eventfd(0, EFD_CLOEXEC);
    int rc = !a->in || !a->out || !a->out_pushed || !a->slots || a->wake_fd < 0 ||
                     fc_inv_pool_init(&a->invs, sched, sched_index) < 0
                 ? -ENOMEM
                 : 0;
    if (rc == 0) {
        for (uint32_t i = 0; i < ios; i++) {
            fc_ring_init(&a->in[i]);
            fc_ring_init(&a->out[i]);
        }
        if (getrandom(&a->boot_id, sizeof(a->boot_id), 0) != sizeof(a->boot_id))
            a->boot_id = (uint64_t)getpid() << 32 ^ wall_ms();
        struct fc_jobs_config jc = {.data_dir = cfg->data_dir,
                                    .sync = cfg->async_nometasync ? FC_JOBS_SYNC_NOMETASYNC
                                                                  : FC_JOBS_SYNC_FULL};
        rc = fc_jobs_open(&jc, &a->jobs);
    }
    struct fc_jobs_recovery rec = {0};
    if (rc == 0)
        rc = fc_jobs_recover(a->jobs, a->boot_id, wall_ms(), &rec);
    if (rc == 0) {
        FC_LOG_INFO("async store: %u jobs back in the queue after a restart, %u expired%s",
                    rec.requeued, rec.expired,
                    cfg->async_nometasync ? " (NOMETASYNC: the last commit may not survive "
                                            "power loss)"
                                          : "");
        rc = -pthread_create(&a->thread, NULL, store_main, a);
    }
    if (rc < 0) {
        FC_LOG_ERROR("async store in %s/async: %s", cfg->data_dir, strerror(-rc));
        if (a->jobs)
            fc_jobs_close(a->jobs);
        if (a->wake_fd >= 0)
            close(a->wake_fd);
        free(a->in);
        free(a->out);
        free(a->out_pushed);
        free(a->slots);
        fc_inv_pool_destroy(&a->invs);
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void fc_async_stop(struct fc_async *a) {
    atomic_store(&a->stop, true);
    uint64_t one = 1;
    if (write(a->wake_fd, &one, sizeof(one)) < 0)
        FC_LOG_WARN("wake store thread: %s", strerror(errno));
    pthread_join(a->thread, NULL);
    fc_jobs_close(a->jobs);
    close(a->wake_fd);
    for (uint32_t i = 0; i < a->slots_touched; i++) {
        fc_buf_free(&a->slots[i].rec);
        fc_buf_free(&a->slots[i].dest_event);
    }
    free(a->in);
    free(a->out);
    free(a->out_pushed);
    free(a->slots);
    fc_inv_pool_destroy(&a->invs);
    free(a);
}

int fc_async_submit(struct fc_async *a, struct fc_async_req *req) {
    void *item = req;
    if (fc_ring_push_burst(&a->in[req->io_index], &item, 1) != 1)
        return -EAGAIN;
    fc_sched_io_wake(a->sched, a->index, a->sched->io_ring[req->io_index]);
    return 0;
}

uint32_t fc_async_poll(struct fc_async *a, uint32_t io_index, struct fc_async_req **out,
                       uint32_t n) {
    return fc_ring_pop_burst(&a->out[io_index], (void **)out, n);
}

bool fc_async_pending(struct fc_async *a, uint32_t io_index) {
    return fc_ring_count(&a->out[io_index]) > 0;
}

struct fc_jobs *fc_async_jobs(struct fc_async *a) {
    return a->jobs;
}
