/* worker.c — a worker thread: runs invocations on its instances.
 *
 * Life of an invocation here: it arrives on a submit ring; if a slot (a
 * connection to a ready instance with spare concurrency) is idle it runs at
 * once, otherwise it waits in its function's queue (bounded in length and
 * time) while an instance starts, if the function may have another. Running
 * means: send the head the io thread built plus the body (one sendmsg), arm
 * the function timeout on this thread's wheel, read and frame the response
 * (Content-Length, chunked, or until close). It leaves on a complete ring.
 *
 * Failures: a timeout kills the instance's process group; an instance that
 * exits (pidfd readable) fails what it was running; a reused keep-alive
 * connection that fails before any response byte is retried once on a fresh
 * connection (runtimes close idle connections: Node after 5 s, gunicorn 2 s).
 *
 * Logs: stdout and stderr are read through io_uring, cut into lines, tagged
 * with a request id (from the runtime's "FC Invoke Start/End RequestId:"
 * markers, else the running invocation when concurrency is 1) and appended
 * to data_dir/logs/<service>/<function>.log; a request that asked for its
 * log tail collects its lines too. */
#include "core/worker.h"

#include "core/log.h"

#include <arpa/inet.h>
#include "core/assert.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RING_ENTRIES 1024
#define QUEUE_WAIT_MS 30000u    /* longest wait for a slot before 429 (covers cold starts) */
#define PROBE_FAST_MS 50u       /* probe the port every 1 ms this long after spawn... */
#define PROBE_SLOW_INTERVAL_MS 5u /* ...then every 5 ms */
#define RECV_CHUNK 16384u
#define SCALE_RETRY_MS 20u /* a pool at max_instances with a queue looks again this often */
#define LOG_FLUSH_BYTES 65536u /* a function's buffered log lines are written past this */

enum w_op {
    W_WAKE = 1, /* ptr: worker */
    W_CONNECT,  /* ptr: slot */
    W_SEND,     /* ptr: slot */
    W_RECV,     /* ptr: slot */
    W_PIDFD,    /* ptr: instance */
    W_LOG,      /* ptr: instance: its stdout/stderr pipe */
    W_LOG_CANCEL, /* ptr: instance; nothing to do on completion */
};
#define W_OP_MASK 7u

/* The worker running on this thread: wheel callbacks get it from here. */
static _Thread_local struct fc_worker *self;

static uint64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void submit_op(struct fc_worker *w, struct io_uring_sqe *sqe, void *ptr, enum w_op op) {
    (void)w;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)ptr | op);
}

static struct fc_counter *counter(struct fc_worker *w, const struct fc_function *fn) {
    return &w->sched->counters[(size_t)fn->id * w->sched->worker_count + w->index];
}

static void inv_timer_cb(struct fc_wheel_entry *e);
static void slot_release(struct fc_worker *w, struct fc_slot *slot);
static void pool_dispatch(struct fc_worker *w, struct fc_pool *pool);
static void instance_kill(struct fc_instance *inst);
static void instance_report_failure(struct fc_worker *w, struct fc_instance *inst);
static void instance_stop_idle(struct fc_worker *w, struct fc_instance *inst);
static void pool_free(struct fc_worker *w, struct fc_pool *pool);
static void pool_unqueue(struct fc_pool *pool, struct fc_invocation *inv);

/* ---- completion ---------------------------------------------------------------- */

/* Hand inv back to its io thread. The worker no longer owns it after this. */
static void inv_complete(struct fc_worker *w, struct fc_invocation *inv, enum fc_inv_result r) {
    FC_ASSERT(inv->at_worker);
    fc_wheel_unlink(&inv->timer);
    inv->result = r;
    inv->at_worker = false;
    inv->slot = NULL;
    w->held[(size_t)inv->io_index * FC_INV_POOL_MAX + inv->pool_index] = 0;
    /* Relaxed: a placement hint (sched.h). */
    atomic_fetch_sub_explicit(&counter(w, inv->fn)->load, 1, memory_order_relaxed);
    uint16_t io = inv->io_index; /* once pushed, inv is the io thread's again */
    void *item = inv;
    uint32_t pushed = fc_ring_push_burst(fc_sched_ring(w->sched, io, w->index, 1), &item, 1);
    FC_ASSERT(pushed == 1); /* FC_INV_POOL_MAX <= ring size: it always fits */
    (void)pushed;
    w->io_pushed[io] = true;
}

/* Wake io threads that got completions this round, if they sleep. */
static void wake_io_threads(struct fc_worker *w) {
    struct fc_sched *s = w->sched;
    for (uint32_t i = 0; i < s->io_count; i++) {
        if (!w->io_pushed[i])
            continue;
        w->io_pushed[i] = false;
        fc_sched_io_wake(s, i, &w->ring);
    }
}

/* Cut the tail to its last FC_LOG_TAIL_BYTES at a line start and append the
 * summary line FC ends it with (CONTRACT.md §2.2). */
static void inv_tail_summary(struct fc_invocation *inv) {
    struct fc_buf *t = &inv->log_tail;
    if (inv->tail_to != UINT32_MAX && inv->tail_to < t->len)
        t->len = inv->tail_to;
    if (inv->tail_from != UINT32_MAX && inv->tail_from < t->len) {
        memmove(t->data, t->data + inv->tail_from, t->len - inv->tail_from);
        t->len -= inv->tail_from;
    }
    if (t->len > FC_LOG_TAIL_BYTES) {
        size_t from = t->len - FC_LOG_TAIL_BYTES;
        const char *nl = memchr(t->data + from, '\n', t->len - from);
        from = nl ? (size_t)(nl + 1 - t->data) : t->len;
        memmove(t->data, t->data + from, t->len - from);
        t->len -= from;
    }
    double ms = (double)inv->duration_us / 1000.0;
    fc_buf_printf(&inv->log_tail,
                  "\nDuration: %.2f ms, Billed Duration: %llu ms, Memory Size: %u MB, "
                  "Max Memory Used: %.2f MB\n",
                  ms, (unsigned long long)(inv->duration_us + 999) / 1000, inv->fn->memory_mb,
                  inv->max_memory_kb / 1024.0);
}

/* Measure and complete a finished run: duration, memory, log tail. */
static void inv_finish(struct fc_worker *w, struct fc_invocation *inv, enum fc_inv_result r,
                       const struct fc_proc *proc) {
    if (inv->duration_us == 0) /* else measured when the response ended */
        inv->duration_us = mono_us() - inv->start_us;
    if (proc != NULL) {
        if (proc->pid > 0) /* else reaped: keep what was measured before */
            inv->max_memory_kb = fc_instance_peak_kb(proc);
        snprintf(inv->instance_id, sizeof(inv->instance_id), "%s", proc->id);
    }
    if (inv->want_log_tail)
        inv_tail_summary(inv);
    inv_complete(w, inv, r);
}

/* ---- logs --------------------------------------------------------------------- */

/* Write every function log that has buffered lines. */
static void log_flush(struct fc_worker *w) {
    for (struct fc_pool *pool = w->log_dirty; pool != NULL; pool = pool->log_next_dirty) {
        struct fc_buf *b = &pool->log_pending;
        if (b->len > 0 && write(pool->log_fd, b->data, b->len) < 0)
            FC_LOG_WARN("function log of %s/%s: %s", pool->fn->service, pool->fn->name,
                        strerror(errno));
        b->len = 0;
    }
    w->log_dirty = NULL;
}

static void pool_log_open(struct fc_worker *w, struct fc_pool *pool) {
    char path[PATH_MAX + 256];
    const struct fc_config *cfg = w->sched->cfg;
    snprintf(path, sizeof(path), "%s/logs", cfg->data_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/logs/%s", cfg->data_dir, pool->fn->service);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/logs/%s/%s.log", cfg->data_dir, pool->fn->service,
             pool->fn->name);
    pool->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (pool->log_fd < 0)
        FC_LOG_WARN("function log %s: %s", path, strerror(errno));
}

/* Buffer one line for the function's log: "time request-id instance-id
 * line". Written by log_flush once per loop iteration, so a busy function
 * costs one write(2) per batch, not two per invocation. */
static void log_line_write(struct fc_worker *w, struct fc_instance *inst, const char *rid,
                           const char *line, size_t len) {
    struct fc_pool *pool = inst->pool;
    if (pool->log_fd == -1)
        pool_log_open(w, pool);
    if (pool->log_fd < 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != w->log_sec) { /* "2026-12-01T10:00:00." once a second */
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(w->log_stamp, sizeof(w->log_stamp), "%Y-%m-%dT%H:%M:%S.", &tm);
        w->log_sec = ts.tv_sec;
    }
    if (pool->log_pending.len == 0) {
        pool->log_next_dirty = w->log_dirty;
        w->log_dirty = pool;
    }
    /* memcpy, not printf: two lines per invocation is the hot path. */
    const char *tag = rid ? rid : "-";
    size_t stamp = strlen(w->log_stamp), tag_len = strlen(tag), id_len = strlen(inst->proc.id);
    struct fc_buf *b = &pool->log_pending;
    if (fc_buf_reserve(b, stamp + 5 + tag_len + 1 + id_len + 1 + len + 1) < 0) {
        FC_LOG_WARN("function log: out of memory");
        return;
    }
    char *p = b->data + b->len;
    long ms = ts.tv_nsec / 1000000;
    memcpy(p, w->log_stamp, stamp);
    p += stamp;
    *p++ = (char)('0' + ms / 100);
    *p++ = (char)('0' + ms / 10 % 10);
    *p++ = (char)('0' + ms % 10);
    *p++ = 'Z';
    *p++ = ' ';
    memcpy(p, tag, tag_len);
    p += tag_len;
    *p++ = ' ';
    memcpy(p, inst->proc.id, id_len);
    p += id_len;
    *p++ = ' ';
    if (len > 0)
        memcpy(p, line, len);
    p += len;
    *p++ = '\n';
    b->len = (size_t)(p - b->data);
    if (pool->log_pending.len >= LOG_FLUSH_BYTES)
        log_flush(w);
}

/* Find the invocation (running on the instance, or waiting for its End
 * line) with request id rid[0..len). */
static struct fc_invocation *inst_find_inv(struct fc_instance *inst, const char *rid, size_t len) {
    if (len != FC_REQID_LEN)
        return NULL;
    for (uint32_t i = 0; i < inst->pool->fn->concurrency; i++) {
        struct fc_invocation *inv = inst->slots[i].inv;
        if (inv != NULL && memcmp(inv->request_id, rid, len) == 0)
            return inv;
    }
    for (struct fc_invocation *inv = inst->tail_waiters; inv; inv = inv->next)
        if (memcmp(inv->request_id, rid, len) == 0)
            return inv;
    return NULL;
}

/* Complete an invocation that was waiting for its "FC Invoke End" line. */
static void tail_waiter_finish(struct fc_worker *w, struct fc_instance *inst,
                               struct fc_invocation *inv) {
    struct fc_invocation **pp = &inst->tail_waiters;
    while (*pp != inv)
        pp = &(*pp)->next;
    *pp = inv->next;
    inv->next = NULL;
    inv->awaiting_end_line = false;
    inv_finish(w, inv, inv->result, &inst->proc);
}

/* "FC Invoke Start RequestId: X" / "FC Invoke End RequestId: X[, Error...]":
 * returns X's length and sets *rid, *is_end; 0 when the line is no marker. */
static size_t marker_id(const char *line, size_t len, const char **rid, bool *is_end) {
    static const char start[] = "FC Invoke Start RequestId: ", end[] = "FC Invoke End RequestId: ";
    const char *p = NULL;
    if (len > sizeof(start) - 1 && memcmp(line, start, sizeof(start) - 1) == 0) {
        p = line + sizeof(start) - 1;
        *is_end = false;
    } else if (len > sizeof(end) - 1 && memcmp(line, end, sizeof(end) - 1) == 0) {
        p = line + sizeof(end) - 1;
        *is_end = true;
    }
    if (p == NULL)
        return 0;
    size_t n = 0;
    while (p + n < line + len && p[n] != ',' && p[n] != ' ')
        n++;
    *rid = p;
    return n;
}

static void log_line(struct fc_worker *w, struct fc_instance *inst, const char *line, size_t len) {
    const char *rid = NULL;
    bool is_end = false;
    size_t rid_len = marker_id(line, len, &rid, &is_end);
    if (rid_len > FC_REQID_LEN)
        rid_len = 0; /* not one of ours: an ordinary line */
    if (rid_len > 0 && !is_end) /* lines up to the End marker are this request's */
        snprintf(inst->open_rid, sizeof(inst->open_rid), "%.*s", (int)rid_len, rid);
    if (rid_len == 0 && inst->open_rid[0] != '\0') {
        rid = inst->open_rid;
        rid_len = strlen(rid);
    }
    struct fc_invocation *inv = rid_len ? inst_find_inv(inst, rid, rid_len) : NULL;
    if (rid_len == 0 && inst->pool->fn->concurrency == 1)
        inv = inst->slots[0].inv; /* unmarked output of the one running request */
    char tag[FC_REQID_LEN + 1] = "-";
    if (inv != NULL)
        memcpy(tag, inv->request_id, sizeof(tag));
    else if (rid_len > 0)
        snprintf(tag, sizeof(tag), "%.*s", (int)rid_len, rid);
    log_line_write(w, inst, tag, line, len);
    bool marker = rid != inst->open_rid && rid_len > 0;
    if (is_end && marker)
        inst->open_rid[0] = '\0';
    size_t keep = len < sizeof(inst->recent) / 2 ? len : sizeof(inst->recent) / 2;
    if (inst->recent_len + keep + 1 > sizeof(inst->recent)) {
        memmove(inst->recent, inst->recent + inst->recent_len / 2, inst->recent_len / 2);
        inst->recent_len /= 2;
    }
    memcpy(inst->recent + inst->recent_len, line, keep);
    inst->recent_len += (uint32_t)keep;
    inst->recent[inst->recent_len++] = '\n';
    if (inv == NULL)
        return;
    if (inv->want_log_tail) {
        /* The tail is what lies between the request's own markers when the
         * runtime prints them (RUNTIMES.md); remember where they are. */
        if (marker && !is_end)
            inv->tail_from = (uint32_t)inv->log_tail.len;
        fc_buf_append(&inv->log_tail, line, len);
        fc_buf_append(&inv->log_tail, "\n", 1);
        if (marker && is_end)
            inv->tail_to = (uint32_t)inv->log_tail.len;
    }
    if (is_end && marker && inv->awaiting_end_line)
        tail_waiter_finish(w, inst, inv);
}

static void log_arm(struct fc_worker *w, struct fc_instance *inst) {
    struct io_uring_sqe *sqe = fc_uring_sqe(&w->ring);
    io_uring_prep_read(sqe, inst->proc.out_fd, inst->readbuf, sizeof(inst->readbuf), -1);
    submit_op(w, sqe, inst, W_LOG);
    inst->ops++;
}

/* The output ended (or is read no more): its last, unterminated line. */
static void log_last_line(struct fc_worker *w, struct fc_instance *inst) {
    if (inst->loglen > 0) {
        log_line(w, inst, inst->logbuf, inst->loglen);
        inst->loglen = 0;
    }
}

/* Output arrived on the instance's stdout/stderr pipe: cut it into lines. */
static void on_log(struct fc_worker *w, struct fc_instance *inst, int res) {
    inst->ops--;
    for (int i = 0; i < res; i++) {
        char c = inst->readbuf[i];
        if (c != '\n' && inst->loglen < FC_LOG_LINE_BYTES_MAX) {
            inst->logbuf[inst->loglen++] = c;
            continue;
        }
        log_line(w, inst, inst->logbuf, inst->loglen);
        inst->loglen = 0;
        if (c != '\n')
            inst->logbuf[inst->loglen++] = c;
    }
    /* On to EOF, also after the exit: a process that left the group may
     * hold the pipe, so the instance's timer cuts reading short then. */
    if (res > 0 && !inst->output_cut) {
        log_arm(w, inst);
        return;
    }
    log_last_line(w, inst); /* EOF */
    instance_report_failure(w, inst);
    while (inst->tail_waiters != NULL) /* every line is in: their tails are whole */
        tail_waiter_finish(w, inst, inst->tail_waiters);
}

/* ---- slots: connections to an instance ---------------------------------------- */

static void slot_arm_connect(struct fc_worker *w, struct fc_slot *slot) {
    slot->fd = fc_instance_socket(&slot->inst->proc);
    if (slot->fd < 0) {
        FC_LOG_ERROR("instance socket: %s", strerror(-slot->fd));
        slot->fd = -1;
        return;
    }
    int one = 1;
    setsockopt(slot->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* The address must stay valid until the kernel reads it at submit. */
    slot->addr = (struct sockaddr_in){.sin_family = AF_INET,
                                      .sin_port = htons(slot->inst->proc.port),
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct io_uring_sqe *sqe = fc_uring_sqe(&w->ring);
    io_uring_prep_connect(sqe, slot->fd, (struct sockaddr *)&slot->addr, sizeof(slot->addr));
    submit_op(w, sqe, slot, W_CONNECT);
    slot->ops++;
    slot->state = FC_SLOT_CONNECTING;
}

/* Close the slot's connection; the slot itself stays (reconnects on use). */
static void slot_disconnect(struct fc_slot *slot) {
    if (slot->fd < 0)
        return;
    if (slot->ops > 0) {
        shutdown(slot->fd, SHUT_RDWR); /* completes what is in flight */
        slot->closing = true;
        return;
    }
    close(slot->fd);
    slot->fd = -1;
    slot->closing = false;
}

static void slot_send(struct fc_worker *w, struct fc_slot *slot) {
    struct fc_invocation *inv = slot->inv;
    slot->iov[0] = (struct iovec){inv->head.data, inv->head.len};
    slot->iov[1] = (struct iovec){inv->req.data + inv->body_off, inv->body_len};
    slot->msg = (struct msghdr){.msg_iov = slot->iov, .msg_iovlen = inv->body_len ? 2 : 1};
    slot->rbuf.len = 0;
    slot->head_len = 0;
    struct io_uring_sqe *sqe = fc_uring_sqe(&w->ring);
    io_uring_prep_sendmsg(sqe, slot->fd, &slot->msg, MSG_NOSIGNAL);
    submit_op(w, sqe, slot, W_SEND);
    slot->ops++;
}

static void slot_recv(struct fc_worker *w, struct fc_slot *slot) {
    if (fc_buf_reserve(&slot->rbuf, RECV_CHUNK) < 0) {
        FC_LOG_ERROR("out of memory for an instance response");
        return;
    }
    struct io_uring_sqe *sqe = fc_uring_sqe(&w->ring);
    io_uring_prep_recv(sqe, slot->fd, slot->rbuf.data + slot->rbuf.len,
                       slot->rbuf.cap - slot->rbuf.len, 0);
    submit_op(w, sqe, slot, W_RECV);
    slot->ops++;
}

/* Start inv on slot (the slot is BUSY from here until slot_release). */
static void slot_run(struct fc_worker *w, struct fc_slot *slot, struct fc_invocation *inv) {
    struct fc_instance *inst = slot->inst;
    slot->state = FC_SLOT_BUSY;
    slot->inv = inv;
    inv->slot = slot;
    if (inst->busy++ == 0)
        fc_wheel_unlink(&inst->timer); /* no idle reclaim while busy */
    if (inv != inst->hook_inv && inst->pool->fn->concurrency == 1)
        fc_instance_peak_reset(&inst->proc);
    fc_wheel_unlink(&inv->timer);
    inv->start_us = mono_us();
    const struct fc_function *fn = inst->pool->fn;
    uint32_t timeout_s = inv != inst->hook_inv             ? fn->timeout_s
                         : inst->state == FC_INST_STOPPING ? fn->pre_stop_timeout_s
                                                           : fn->initialization_timeout_s;
    fc_wheel_link(&w->wheel, &inv->timer, w->now_ms + (uint64_t)timeout_s * 1000);
    if (slot->fd < 0)
        slot_arm_connect(w, slot);
    else
        slot_send(w, slot);
}

static bool header_is(const struct fc_http_header *h, const char *name, const char *value) {
    return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0 &&
           h->value_len == strlen(value) && strncasecmp(h->value, value, h->value_len) == 0;
}

/* The body framing of a parsed response head. Returns 0 or -EBADMSG. */
static int slot_frame(struct fc_slot *slot, const struct fc_http_resp *resp) {
    bool no_body = slot->inv->head_only || resp->status == 204 || resp->status == 304;
    slot->body_chunked = !no_body && resp->chunked;
    slot->body_until_close = !no_body && !resp->chunked && !resp->has_content_length;
    slot->body_len = no_body || resp->chunked || !resp->has_content_length ? 0
                                                                          : resp->content_length;
    slot->raw_pos = slot->head_len;
    memset(&slot->dec, 0, sizeof(slot->dec));
    return 0;
}

/* A whole response is in rbuf: hand it to the invocation. */
static void slot_done(struct fc_worker *w, struct fc_slot *slot, const struct fc_http_resp *resp,
                      bool reusable) {
    struct fc_invocation *inv = slot->inv;
    struct fc_instance *inst = slot->inst;
    enum fc_inv_result r = FC_INV_OK;
    inv->status = resp->status;
    for (uint32_t i = 0; i < resp->headers_count; i++)
        if (header_is(&resp->headers[i], "x-fc-status", "404"))
            r = FC_INV_FUNCTION_ERROR;
    if (inv->kind == FC_INV_EVENT && resp->status == 404)
        r = FC_INV_FUNCTION_ERROR;
    /* The response moves to the invocation; the slot keeps the old buffer. */
    struct fc_buf t = inv->resp;
    inv->resp = slot->rbuf;
    inv->resp.len = slot->head_len + slot->body_len;
    inv->resp_head_len = (uint32_t)slot->head_len;
    slot->rbuf = t;
    slot->rbuf.len = 0;
    slot->reused = true;
    if (!reusable || !resp->keep_alive)
        slot_disconnect(slot);
    fc_wheel_unlink(&inv->timer);
    slot->inv = NULL;
    if (inv == inst->hook_inv) {
        slot_release(w, slot);
        return;
    }
    if (inv->want_log_tail) {
        /* Runtimes print "FC Invoke End" just after answering; wait for it
         * briefly so the tail is whole (RUNTIMES.md). */
        inv->result = r;
        inv->awaiting_end_line = true;
        inv->duration_us = mono_us() - inv->start_us;
        inv->max_memory_kb = fc_instance_peak_kb(&inst->proc);
        inv->next = inst->tail_waiters;
        inst->tail_waiters = inv;
        inv->tail_inst = inst;
        fc_wheel_link(&w->wheel, &inv->timer, w->now_ms + FC_END_LINE_WAIT_MS);
        slot_release(w, slot);
        return;
    }
    inv_finish(w, inv, r, &inst->proc);
    slot_release(w, slot);
}

/* The response so far is garbage, truncated, or the connection died. A
 * reused connection that failed before any response byte is retried once
 * on a fresh one: the runtime may have closed it as idle just now. */
static void inv_abort_running(struct fc_worker *w, struct fc_invocation *inv,
                              enum fc_inv_result r);

static void slot_failed(struct fc_worker *w, struct fc_slot *slot, const char *why) {
    struct fc_invocation *inv = slot->inv;
    struct fc_instance *inst = slot->inst;
    bool nothing_received = slot->rbuf.len == 0;
    bool retry = nothing_received && slot->reused && inst->state == FC_INST_READY;
    slot->reused = false;
    slot_disconnect(slot);
    if (inv == NULL)
        return;
    if (retry) {
        FC_LOG_DEBUG("instance %s: reused connection failed (%s); retrying on a new one",
                     inst->proc.id, why);
        slot->rbuf.len = 0;
        if (slot->fd < 0)
            slot_arm_connect(w, slot);
        else
            slot->state = FC_SLOT_CONNECTING; /* reconnects when the old fd drains */
        return;
    }
    snprintf(inv->error, sizeof(inv->error), "%s", why);
    slot->inv = NULL;
    if (inv == inst->hook_inv) {
        slot_release(w, slot);
        return;
    }
    if (nothing_received) {
        /* The runtime dropped the request without a word: it is exiting or
         * broken. Replace it now; its pidfd would tell only later, and a
         * new request must not land on it meanwhile. */
        inv->slot = slot; /* inv_abort_running takes it from the slot */
        slot->inv = inv;
        inv_abort_running(w, inv, FC_INV_CRASHED);
        return;
    }
    inv_finish(w, inv, FC_INV_BAD_RESPONSE, &inst->proc);
    slot_release(w, slot);
}

/* Parse what has arrived. Returns true when the response is complete. */
static void slot_progress(struct fc_worker *w, struct fc_slot *slot) {
    struct fc_http_resp resp = {.headers = w->headers, .headers_cap = FC_HTTP_HEADERS_MAX};
    struct fc_http_limits limits = {FC_RESP_HEAD_BYTES_MAX, FC_HTTP_HEADERS_MAX};
    ssize_t rc = fc_http_parse_response(slot->rbuf.data, slot->rbuf.len, &limits, &resp);
    if (rc == -EAGAIN) {
        slot_recv(w, slot);
        return;
    }
    if (rc < 0) {
        slot_failed(w, slot, resp.error ? resp.error : "malformed response");
        return;
    }
    if (resp.status < 200) { /* 100 Continue and friends: drop, read on */
        memmove(slot->rbuf.data, slot->rbuf.data + rc, slot->rbuf.len - (size_t)rc);
        slot->rbuf.len -= (size_t)rc;
        slot->head_len = 0;
        slot_progress(w, slot);
        return;
    }
    if (slot->head_len == 0) {
        slot->head_len = (size_t)rc;
        slot_frame(slot, &resp);
    }
    uint64_t body_max = w->sched->cfg->http.body_sync_bytes_max;
    if (slot->body_chunked) {
        char *raw = slot->rbuf.data + slot->raw_pos;
        size_t raw_len = slot->rbuf.len - slot->raw_pos, dec = raw_len;
        ssize_t n = fc_http_chunked_decode(&slot->dec, raw, &dec, &slot->body_len, body_max);
        memmove(slot->rbuf.data + slot->head_len + slot->body_len - dec, raw, dec);
        slot->rbuf.len = slot->head_len + slot->body_len;
        slot->raw_pos = slot->rbuf.len;
        if (n == -EAGAIN) {
            slot_recv(w, slot);
        } else if (n < 0) {
            slot_failed(w, slot, n == -E2BIG ? "response body too large" : "bad chunked body");
        } else {
            slot_done(w, slot, &resp, n == 0);
        }
        return;
    }
    if (slot->body_until_close) {
        slot->body_len = slot->rbuf.len - slot->head_len;
        if (slot->body_len > body_max)
            slot_failed(w, slot, "response body too large");
        else
            slot_recv(w, slot); /* EOF completes it (on_recv) */
        return;
    }
    if (slot->body_len > body_max) {
        slot_failed(w, slot, "response body too large");
    } else if (slot->rbuf.len >= slot->head_len + slot->body_len) {
        slot_done(w, slot, &resp, slot->rbuf.len == slot->head_len + slot->body_len);
    } else {
        uint64_t missing = slot->head_len + slot->body_len - slot->rbuf.len;
        if (fc_buf_reserve(&slot->rbuf, missing) == 0)
            slot_recv(w, slot);
        else
            slot_failed(w, slot, "out of memory");
    }
}

static void on_slot_recv(struct fc_worker *w, struct fc_slot *slot, int res) {
    slot->ops--;
    if (slot->closing || slot->inv == NULL) {
        if (slot->ops == 0)
            slot_disconnect(slot);
        return;
    }
    if (res > 0) {
        slot->rbuf.len += (size_t)res;
        slot_progress(w, slot);
    } else if (res == 0 && slot->body_until_close && slot->head_len > 0) {
        struct fc_http_resp resp = {.headers = w->headers, .headers_cap = FC_HTTP_HEADERS_MAX};
        struct fc_http_limits limits = {FC_RESP_HEAD_BYTES_MAX, FC_HTTP_HEADERS_MAX};
        fc_http_parse_response(slot->rbuf.data, slot->rbuf.len, &limits, &resp);
        slot_done(w, slot, &resp, false);
    } else {
        slot_failed(w, slot, res == 0 ? "connection closed before a full response"
                                      : strerror(-res));
    }
}

static void on_slot_send(struct fc_worker *w, struct fc_slot *slot, int res) {
    slot->ops--;
    if (slot->closing || slot->inv == NULL) {
        if (slot->ops == 0)
            slot_disconnect(slot);
        return;
    }
    if (res < 0) {
        slot_failed(w, slot, strerror(-res));
        return;
    }
    /* Short send: move the iovecs past what went out and send the rest. */
    size_t sent = (size_t)res;
    while (slot->msg.msg_iovlen > 0 && sent >= slot->msg.msg_iov[0].iov_len) {
        sent -= slot->msg.msg_iov[0].iov_len;
        slot->msg.msg_iov++;
        slot->msg.msg_iovlen--;
    }
    if (slot->msg.msg_iovlen > 0) {
        slot->msg.msg_iov[0].iov_base = (char *)slot->msg.msg_iov[0].iov_base + sent;
        slot->msg.msg_iov[0].iov_len -= sent;
        struct io_uring_sqe *sqe = fc_uring_sqe(&w->ring);
        io_uring_prep_sendmsg(sqe, slot->fd, &slot->msg, MSG_NOSIGNAL);
        submit_op(w, sqe, slot, W_SEND);
        slot->ops++;
        return;
    }
    slot_recv(w, slot);
}

/* ---- instances ----------------------------------------------------------------- */

static void instance_ready(struct fc_worker *w, struct fc_instance *inst);
static void instance_serve(struct fc_worker *w, struct fc_instance *inst);
static void instance_withdraw(struct fc_worker *w, struct fc_instance *inst);
static int hook_run(struct fc_worker *w, struct fc_instance *inst, const char *method,
                    const char *path);
static void instance_failed_start(struct fc_worker *w, struct fc_instance *inst,
                                  enum fc_inv_result r, const char *why);

static void on_slot_connect(struct fc_worker *w, struct fc_slot *slot, int res) {
    slot->ops--;
    struct fc_instance *inst = slot->inst;
    if (slot->closing) {
        if (slot->ops == 0)
            slot_disconnect(slot);
        if (slot->inv != NULL && slot->fd < 0) /* a retry waiting for the old fd */
            slot_arm_connect(w, slot);
        return;
    }
    if (inst->state == FC_INST_DEAD) {
        slot_disconnect(slot);
        return;
    }
    if (res < 0) {
        close(slot->fd);
        slot->fd = -1;
        if (inst->state == FC_INST_STARTING) {
            /* Not listening yet: probe again soon (1 ms at first: a C
             * runtime is up in ~1.4 ms; BENCH.md). */
            uint64_t age = w->now_ms - inst->start_ms;
            fc_wheel_link(&w->wheel, &inst->timer,
                          w->now_ms + (age < PROBE_FAST_MS ? 1 : PROBE_SLOW_INTERVAL_MS));
        } else {
            slot_failed(w, slot, strerror(-res));
        }
        return;
    }
    slot->state = slot->inv ? FC_SLOT_BUSY : FC_SLOT_IDLE;
    if (inst->state == FC_INST_STARTING)
        instance_ready(w, inst);
    else if (slot->inv != NULL)
        slot_send(w, slot);
}

static void inst_timer_cb(struct fc_wheel_entry *e) {
    struct fc_instance *inst = (struct fc_instance *)((char *)e - offsetof(struct fc_instance, timer));
    struct fc_worker *w = inst->worker;
    if (inst->state == FC_INST_STARTING) {
        if (w->now_ms - inst->start_ms >= FC_START_TIMEOUT_MS) {
            instance_failed_start(w, inst, FC_INV_NOT_STARTED, "the runtime did not listen");
            return;
        }
        slot_arm_connect(w, &inst->slots[0]);
        return;
    }
    if (inst->state == FC_INST_READY && inst->busy == 0)
        instance_stop_idle(w, inst);
    if (inst->state != FC_INST_DEAD) /* EXIT_OUTPUT_WAIT_MS passed: */
        return;
    if (!inst->reaped) { /* killed while starting and not gone yet: report now */
        instance_report_failure(w, inst);
        return;
    }
    log_last_line(w, inst); /* exited: what it said is what there is */
    instance_report_failure(w, inst);
    inst->output_cut = true;
    struct io_uring_sqe *sqe = fc_uring_sqe(&w->ring);
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)inst | W_LOG, 0);
    submit_op(w, sqe, inst, W_LOG_CANCEL);
}

/* Stop a ready instance with nothing running: /pre-stop first if set. */
static void instance_stop_idle(struct fc_worker *w, struct fc_instance *inst) {
    const struct fc_function *fn = inst->pool->fn;
    FC_LOG_INFO("instance %s of %s/%s %s: stopping", inst->proc.id, fn->service, fn->name,
                inst->pool->retired ? "replaced" : "idle");
    fc_wheel_unlink(&inst->timer);
    instance_withdraw(w, inst);
    inst->state = FC_INST_STOPPING;
    if (fn->pre_stop == NULL || hook_run(w, inst, "GET", "/pre-stop") < 0)
        instance_kill(inst);
}

static void arm_idle_reclaim(struct fc_worker *w, struct fc_instance *inst) {
    fc_wheel_unlink(&inst->timer);
    fc_wheel_link(&w->wheel, &inst->timer,
                  w->now_ms + (uint64_t)w->sched->cfg->instance_idle_s * 1000);
}

/* A slot finished its request (or its connection failed): back to the pool. */
static void slot_release(struct fc_worker *w, struct fc_slot *slot) {
    struct fc_instance *inst = slot->inst;
    struct fc_pool *pool = inst->pool;
    FC_ASSERT(inst->busy > 0);
    bool was_init = inst->hook_inv != NULL && inst->state == FC_INST_INITIALIZING;
    inst->busy--;
    slot->state = FC_SLOT_IDLE;
    if (inst->state == FC_INST_STOPPING) { /* /pre-stop answered (or failed): stop */
        FC_LOG_DEBUG("instance %s: /pre-stop answered %d%s%s", inst->proc.id,
                     inst->hook_inv->status, inst->hook_inv->error[0] ? ": " : "",
                     inst->hook_inv->error);
        instance_kill(inst);
        return;
    }
    if (was_init) {
        struct fc_invocation *init = inst->hook_inv;
        bool ok = init->result == FC_INV_OK && init->status >= 200 && init->status < 300 &&
                  init->error[0] == '\0';
        if (ok) {
            instance_serve(w, inst);
        } else {
            instance_failed_start(w, inst, FC_INV_INIT_FAILED,
                                  init->error[0] ? init->error : "the initializer failed");
        }
        return;
    }
    if (inst->state != FC_INST_READY)
        return;
    if (pool->retired) { /* an old version: it finishes what it runs, then stops */
        if (inst->busy == 0)
            instance_stop_idle(w, inst);
        return;
    }
    slot->next_idle = pool->idle;
    pool->idle = slot;
    if (inst->busy == 0)
        arm_idle_reclaim(w, inst);
    pool_dispatch(w, pool);
}

/* Send a lifecycle request (/initialize, /pre-stop: CONTRACT.md §6.3) on
 * slot 0. Its end is handled by slot_release and inv_timer_cb by the
 * instance's state. Returns 0 or -ENOMEM. */
static int hook_run(struct fc_worker *w, struct fc_instance *inst, const char *method,
                    const char *path) {
    const struct fc_function *fn = inst->pool->fn;
    if (inst->hook_inv == NULL && (inst->hook_inv = calloc(1, sizeof(*inst->hook_inv))) == NULL)
        return -ENOMEM;
    struct fc_invocation *hook = inst->hook_inv;
    hook->fn = fn;
    hook->at_worker = true;
    hook->result = FC_INV_OK;
    hook->error[0] = '\0';
    hook->head.len = 0;
    fc_wheel_entry_init(&hook->timer, inv_timer_cb);
    fc_reqid_next(&w->ids, hook->request_id);
    int rc = fc_buf_printf(&hook->head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s", method, path,
                           strcmp(method, "POST") == 0 ? "Content-Length: 0\r\n" : "");
    if (rc == 0)
        rc = fc_invocation_fc_headers(&hook->head, fn, hook->request_id, path, 0);
    if (rc == 0)
        rc = fc_buf_append(&hook->head, "\r\n", 2);
    if (rc == 0)
        slot_run(w, &inst->slots[0], hook);
    return rc;
}

/* The port accepts (or the initializer succeeded): the instance serves. */
static void instance_ready(struct fc_worker *w, struct fc_instance *inst) {
    struct fc_pool *pool = inst->pool;
    const struct fc_function *fn = pool->fn;
    fc_wheel_unlink(&inst->timer);
    if (fn->initializer != NULL && inst->state == FC_INST_STARTING) {
        if (hook_run(w, inst, "POST", "/initialize") == 0)
            inst->state = FC_INST_INITIALIZING;
        else
            instance_failed_start(w, inst, FC_INV_INTERNAL, "out of memory");
        return;
    }
    instance_serve(w, inst);
}

/* Started (and initialized): every slot goes to the pool. */
static void instance_serve(struct fc_worker *w, struct fc_instance *inst) {
    struct fc_pool *pool = inst->pool;
    const struct fc_function *fn = pool->fn;
    inst->state = FC_INST_READY;
    pool->starting--;
    FC_LOG_DEBUG("instance %s of %s/%s ready in %llu ms", inst->proc.id, fn->service, fn->name,
                 (unsigned long long)(w->now_ms - inst->start_ms));
    if (pool->retired) { /* replaced while it started: nothing will come to it */
        instance_stop_idle(w, inst);
        return;
    }
    /* Every slot is available: slot 0 is connected, the others connect on
     * first use. */
    for (uint32_t i = fn->concurrency; i-- > 0;) {
        struct fc_slot *slot = &inst->slots[i];
        slot->next_idle = pool->idle;
        pool->idle = slot;
    }
    arm_idle_reclaim(w, inst);
    pool_dispatch(w, pool);
}

static void instance_kill(struct fc_instance *inst) {
    fc_instance_kill(&inst->proc);
}

/* The instance serves no more invocations: its slots leave the idle stack
 * and its concurrency the worker's published capacity. Idempotent. */
static void instance_withdraw(struct fc_worker *w, struct fc_instance *inst) {
    struct fc_pool *pool = inst->pool;
    for (struct fc_slot **pp = &pool->idle; *pp;) {
        if ((*pp)->inst == inst)
            *pp = (*pp)->next_idle;
        else
            pp = &(*pp)->next_idle;
    }
    if (inst->counted) {
        inst->counted = false;
        /* Relaxed: placement hint (sched.h). */
        atomic_fetch_sub_explicit(&counter(w, pool->fn)->capacity, pool->fn->concurrency,
                                  memory_order_relaxed);
    }
}

/* Fail every queued invocation of the pool (nothing can serve them). */
static void pool_fail_queue(struct fc_worker *w, struct fc_pool *pool, enum fc_inv_result r,
                            const char *why) {
    while (pool->queue_head != NULL) {
        struct fc_invocation *inv = pool->queue_head;
        pool->queue_head = inv->next;
        inv->next = NULL;
        pool->queued--;
        snprintf(inv->error, sizeof(inv->error), "%.1500s", why);
        inv_complete(w, inv, r);
    }
    pool->queue_tail = NULL;
}

/* The instance counted in pool->starting will not serve: uncount it and, if
 * nothing else can serve the queue, fail it with why and the instance's last
 * output (FC's "Logs : ..." message). */
static void pool_start_failed(struct fc_worker *w, struct fc_instance *inst,
                              enum fc_inv_result r, const char *why) {
    struct fc_pool *pool = inst->pool;
    char msg[sizeof(inst->recent) + 128];
    snprintf(msg, sizeof(msg), "%s. Logs : %.*s", why, (int)inst->recent_len, inst->recent);
    FC_LOG_WARN("instance %s of %s/%s failed to start: %s", inst->proc.id, pool->fn->service,
                pool->fn->name, why);
    pool->starting--;
    if (pool->starting == 0 && pool->idle == NULL)
        pool_fail_queue(w, pool, r, msg);
}

/* An instance's output is read to its end after it exited (or was killed
 * while starting), for at most this long: a process that left the group
 * (and the cgroup, or there is none) may hold the pipe open. */
#define EXIT_OUTPUT_WAIT_MS 200

/* Note a failed start (the first cause counts). It is reported once the
 * output is all in; until then the instance stays in pool->starting, so its
 * queue neither fails with half the message nor starts another instance. */
static void instance_note_failure(struct fc_instance *inst, enum fc_inv_result r,
                                  const char *why) {
    if (inst->failure_unreported)
        return;
    inst->failure_unreported = true;
    inst->failure = r;
    snprintf(inst->failure_why, sizeof(inst->failure_why), "%s", why);
}

static void instance_failed_start(struct fc_worker *w, struct fc_instance *inst,
                                  enum fc_inv_result r, const char *why) {
    if (inst->state == FC_INST_DEAD)
        return; /* killed or exited already: that path reports */
    bool starting = inst->state == FC_INST_STARTING || inst->state == FC_INST_INITIALIZING;
    inst->state = FC_INST_DEAD;
    instance_withdraw(w, inst);
    fc_wheel_unlink(&inst->timer);
    instance_kill(inst);
    if (!starting)
        return;
    instance_note_failure(inst, r, why);
    fc_wheel_link(&w->wheel, &inst->timer, w->now_ms + EXIT_OUTPUT_WAIT_MS);
}

static void instance_report_failure(struct fc_worker *w, struct fc_instance *inst) {
    if (!inst->failure_unreported)
        return;
    inst->failure_unreported = false;
    fc_wheel_unlink(&inst->timer);
    pool_start_failed(w, inst, inst->failure, inst->failure_why);
    if (!inst->pool->retired)
        pool_dispatch(w, inst->pool); /* a queue others serve may want one more */
}

static void instance_free_if_done(struct fc_worker *w, struct fc_instance *inst) {
    if (!inst->reaped || inst->ops > 0)
        return;
    const struct fc_function *fn = inst->pool->fn;
    for (uint32_t i = 0; i < fn->concurrency; i++)
        if (inst->slots[i].ops > 0 || inst->slots[i].fd >= 0)
            return;
    /* Reaped with no read pending: no more output will come (the pipe may
     * have ended before a timed-out invocation started waiting on it). */
    while (inst->tail_waiters != NULL)
        tail_waiter_finish(w, inst, inst->tail_waiters);
    fc_wheel_unlink(&inst->timer);
    struct fc_instance **pp = &inst->pool->instances;
    while (*pp != inst)
        pp = &(*pp)->next;
    *pp = inst->next;
    fc_instance_close_output(&inst->proc);
    for (uint32_t i = 0; i < fn->concurrency; i++)
        fc_buf_free(&inst->slots[i].rbuf);
    if (inst->hook_inv != NULL) {
        fc_wheel_unlink(&inst->hook_inv->timer);
        fc_buf_free(&inst->hook_inv->head);
        fc_buf_free(&inst->hook_inv->resp);
        free(inst->hook_inv);
    }
    struct fc_pool *pool = inst->pool;
    free(inst->slots);
    free(inst);
    w->instances_live--;
    if (pool->retired && pool->instances == NULL)
        pool_free(w, pool);
}

/* The process exited: fail what it was running, release everything. */
static void on_pidfd(struct fc_worker *w, struct fc_instance *inst) {
    inst->ops--;
    struct fc_pool *pool = inst->pool;
    const struct fc_function *fn = pool->fn;
    if (inst->state == FC_INST_STARTING || inst->state == FC_INST_INITIALIZING)
        instance_note_failure(inst, FC_INV_NOT_STARTED, "the runtime exited");
    instance_withdraw(w, inst);
    inst->state = FC_INST_DEAD;
    fc_wheel_unlink(&inst->timer);
    if (inst->ops == 0) /* no output read pending: all of it is in */
        instance_report_failure(w, inst);
    else
        fc_wheel_link(&w->wheel, &inst->timer, w->now_ms + EXIT_OUTPUT_WAIT_MS);
    bool oom = false;
    uint32_t peak_kb = fc_instance_peak_kb(&inst->proc);
    int status = fc_instance_reap(&inst->proc, &oom);
    inst->reaped = true;
    /* Keep the id for messages; the pid is gone. */
    for (uint32_t i = 0; i < fn->concurrency; i++) {
        struct fc_slot *slot = &inst->slots[i];
        struct fc_invocation *inv = slot->inv;
        slot->inv = NULL;
        slot_disconnect(slot);
        if (inv == NULL || inv == inst->hook_inv)
            continue;
        inv->max_memory_kb = peak_kb;
        snprintf(inv->instance_id, sizeof(inv->instance_id), "%s", inst->proc.id);
        snprintf(inv->error, sizeof(inv->error), "%s",
                 oom ? "out of memory" : WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited");
        inv_finish(w, inv, FC_INV_CRASHED, NULL);
    }
    if (inst->hook_inv != NULL) { /* its timeout has nothing left to time */
        fc_wheel_unlink(&inst->hook_inv->timer);
        inst->hook_inv->slot = NULL;
    }
    /* Tail waiters finish when the output pipe ends (on_log) or on their
     * timers: the pipe may still hold their last lines. */
    /* Relaxed: the count only bounds how many instances may start. */
    atomic_fetch_sub_explicit(&w->sched->instances[fn->id], 1, memory_order_relaxed);
    FC_LOG_DEBUG("instance %s of %s/%s ended (status %d%s)", inst->proc.id, fn->service, fn->name,
                 status, oom ? ", OOM" : "");
    bool retired = pool->retired; /* a retired pool may go with its last instance */
    instance_free_if_done(w, inst);
    if (!retired)
        pool_dispatch(w, pool); /* queued work may start a new instance */
}

/* Start a new instance of the pool's function. Returns 0 or -errno. */
static int instance_start(struct fc_worker *w, struct fc_pool *pool) {
    const struct fc_function *fn = pool->fn;
    struct fc_instance *inst = calloc(1, sizeof(*inst));
    struct fc_slot *slots = calloc(fn->concurrency, sizeof(*slots));
    if (inst == NULL || slots == NULL) {
        free(inst);
        free(slots);
        return -ENOMEM;
    }
    char id[FC_REQID_LEN + 1], inst_id[FC_INSTANCE_ID_LEN + 1], err[256];
    fc_reqid_next(&w->ids, id);
    snprintf(inst_id, sizeof(inst_id), "c-%s", id);
    int rc = fc_instance_spawn(fn, inst_id, &inst->proc, err, sizeof(err));
    if (rc < 0) {
        FC_LOG_ERROR("%s/%s: %s", fn->service, fn->name, err);
        free(inst);
        free(slots);
        return rc;
    }
    inst->worker = w;
    inst->pool = pool;
    inst->slots = slots;
    inst->state = FC_INST_STARTING;
    inst->start_ms = w->now_ms;
    fc_wheel_entry_init(&inst->timer, inst_timer_cb);
    for (uint32_t i = 0; i < fn->concurrency; i++)
        slots[i] = (struct fc_slot){.inst = inst, .fd = -1, .state = FC_SLOT_IDLE};
    inst->next = pool->instances;
    pool->instances = inst;
    pool->starting++;
    w->instances_live++;
    /* A starting instance counts: requests placed here now wait for it
     * rather than start instances elsewhere (instanceConcurrency > 1). */
    inst->counted = true;
    atomic_fetch_add_explicit(&counter(w, fn)->capacity, fn->concurrency, memory_order_relaxed);
    struct io_uring_sqe *sqe = fc_uring_sqe(&w->ring);
    io_uring_prep_poll_add(sqe, inst->proc.pidfd, POLLIN);
    submit_op(w, sqe, inst, W_PIDFD);
    inst->ops++;
    log_arm(w, inst);
    slot_arm_connect(w, &slots[0]);
    FC_LOG_DEBUG("instance %s of %s/%s starting (pid %d, port %u)", inst_id, fn->service,
                 fn->name, (int)inst->proc.pid, inst->proc.port);
    return 0;
}

static bool other_worker_has_capacity(struct fc_worker *w, const struct fc_function *fn) {
    struct fc_sched *s = w->sched;
    for (uint32_t k = 0; k < s->worker_count; k++)
        if (k != w->index &&
            atomic_load_explicit(&s->counters[(size_t)fn->id * s->worker_count + k].capacity,
                                 memory_order_relaxed) > 0)
            return true;
    return false;
}

/* More instances while the queue outgrows what is starting and the
 * function may have another (its max_instances across all workers). */
static void pool_scale(struct fc_worker *w, struct fc_pool *pool) {
    const struct fc_function *fn = pool->fn;
    _Atomic uint32_t *total = &w->sched->instances[fn->id];
    while (pool->queued > pool->starting * fn->concurrency && !atomic_load(&w->stop)) {
        uint32_t n = atomic_load_explicit(total, memory_order_relaxed);
        if (n >= fn->max_instances) {
            /* At the limit with no instance here while another worker has
             * some: this queue would wait for nothing. Hand it back to be
             * placed again (placement then picks a worker with instances). */
            if (pool->instances == NULL && other_worker_has_capacity(w, fn)) {
                pool_fail_queue(w, pool, FC_INV_REPLACE, "placed again");
                return;
            }
            /* Throttled: the queue waits for a slot here, bounded in time;
             * an instance may end on another worker meanwhile, so look again
             * soon rather than only when one of ours frees up. */
            if (!fc_wheel_is_linked(&pool->scale_timer))
                fc_wheel_link(&w->wheel, &pool->scale_timer, w->now_ms + SCALE_RETRY_MS);
            return;
        }
        /* Relaxed CAS: reserves one of max_instances; nothing else is
         * published through the counter. */
        if (!atomic_compare_exchange_weak_explicit(total, &n, n + 1, memory_order_relaxed,
                                                   memory_order_relaxed))
            continue;
        int rc = instance_start(w, pool);
        if (rc < 0) {
            atomic_fetch_sub_explicit(total, 1, memory_order_relaxed);
            char why[128];
            snprintf(why, sizeof(why), "cannot start an instance: %s", strerror(-rc));
            if (pool->starting == 0 && pool->idle == NULL)
                pool_fail_queue(w, pool, FC_INV_INTERNAL, why);
            return;
        }
    }
}

static void pool_scale_cb(struct fc_wheel_entry *e) {
    struct fc_pool *pool = (struct fc_pool *)((char *)e - offsetof(struct fc_pool, scale_timer));
    pool_dispatch(self, pool);
}

/* Run queued invocations on idle slots; start instances for the rest. */
static void pool_dispatch(struct fc_worker *w, struct fc_pool *pool) {
    while (pool->queue_head != NULL && pool->idle != NULL) {
        struct fc_invocation *inv = pool->queue_head;
        pool->queue_head = inv->next;
        if (pool->queue_head == NULL)
            pool->queue_tail = NULL;
        inv->next = NULL;
        pool->queued--;
        struct fc_slot *slot = pool->idle;
        pool->idle = slot->next_idle;
        slot_run(w, slot, inv);
    }
    pool_scale(w, pool);
}

/* ---- pools: one per version of a function ------------------------------------ */

static struct fc_pool *pool_new(struct fc_worker *w, const struct fc_function *fn) {
    (void)w;
    struct fc_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    fc_function_ref(fn);
    pool->fn = fn;
    pool->log_fd = -1;
    fc_wheel_entry_init(&pool->scale_timer, pool_scale_cb);
    return pool;
}

static void pool_free(struct fc_worker *w, struct fc_pool *pool) {
    FC_ASSERT(pool->instances == NULL && pool->queue_head == NULL);
    if (pool->retired) {
        struct fc_pool **pp = &w->retired;
        while (*pp != pool)
            pp = &(*pp)->next_retired;
        *pp = pool->next_retired;
    }
    if (pool->log_pending.len > 0)
        log_flush(w); /* it may sit in the dirty list */
    if (pool->log_fd >= 0)
        close(pool->log_fd);
    fc_buf_free(&pool->log_pending);
    fc_wheel_unlink(&pool->scale_timer);
    fc_function_unref(pool->fn);
    free(pool);
}

/* The pool's function changed (successor: the new version's pool) or was
 * deleted (successor NULL): hand the queue over or fail it, stop the idle
 * instances; busy ones stop when done (slot_release). */
static void pool_retire(struct fc_worker *w, struct fc_pool *pool, struct fc_pool *successor) {
    FC_ASSERT(!pool->retired);
    pool->retired = true;
    fc_wheel_unlink(&pool->scale_timer);
    if (successor != NULL) {
        while (pool->queue_head != NULL) {
            struct fc_invocation *inv = pool->queue_head;
            pool_unqueue(pool, inv);
            if (successor->queue_tail)
                successor->queue_tail->next = inv;
            else
                successor->queue_head = inv;
            successor->queue_tail = inv;
            successor->queued++;
        }
    } else {
        pool_fail_queue(w, pool, FC_INV_GONE, "the function was deleted");
    }
    for (struct fc_instance *inst = pool->instances, *next; inst; inst = next) {
        next = inst->next;
        if (inst->state == FC_INST_READY && inst->busy == 0)
            instance_stop_idle(w, inst);
    }
    pool->next_retired = w->retired;
    w->retired = pool;
    if (pool->instances == NULL)
        pool_free(w, pool);
    if (successor != NULL)
        pool_dispatch(w, successor);
}

/* Same function, and nothing its instances depend on changed (a trigger or
 * async config change): the pool serves on with the newer object. */
static bool pool_serves(const struct fc_pool *pool, const struct fc_function *fn) {
    return pool->fn->uid == fn->uid && pool->fn->instance_revision == fn->instance_revision;
}

/* Make fn the current pool's object when it is newer and pool_serves. */
static void pool_adopt(struct fc_pool *pool, const struct fc_function *fn) {
    if (fn->revision <= pool->fn->revision)
        return;
    fc_function_ref(fn);
    fc_function_unref(pool->fn);
    pool->fn = fn;
}

/* The catalog changed: retire the pools of functions whose instances must
 * change or that went. New versions get their pools now, so queued work
 * moves over at once. */
static void pools_refresh(struct fc_worker *w) {
    if (w->view.cat != NULL && !fc_sched_catalog_moved(w->sched, &w->view))
        return;
    const struct fc_catalog *cat = fc_registry_view(w->sched->registry, &w->view);
    for (uint32_t id = 0; id < FC_FUNCTIONS_MAX; id++) {
        struct fc_pool *pool = w->pools[id];
        const struct fc_function *now = id < cat->count ? cat->functions[id] : NULL;
        if (pool == NULL || pool->fn == now)
            continue;
        if (now != NULL && pool_serves(pool, now)) {
            pool_adopt(pool, now);
            continue;
        }
        struct fc_pool *next = now != NULL && now->uid == pool->fn->uid ? pool_new(w, now) : NULL;
        w->pools[id] = next;
        pool_retire(w, pool, next);
    }
}

/* The pool that runs fn, after bringing the pools up to the current
 * catalog: the current pool of fn's id when it is fn's function (a newer
 * version serves an invocation made just before an update), a new one when
 * fn is current and has none, NULL when fn was deleted. */
static struct fc_pool *pool_for(struct fc_worker *w, const struct fc_function *fn) {
    pools_refresh(w);
    const struct fc_catalog *cat = w->view.cat;
    const struct fc_function *now = fn->id < cat->count ? cat->functions[fn->id] : NULL;
    if (now == NULL || now->uid != fn->uid)
        return NULL;
    struct fc_pool *pool = w->pools[fn->id];
    if (pool == NULL && (pool = pool_new(w, now)) != NULL)
        w->pools[fn->id] = pool;
    return pool;
}

/* ---- invocations --------------------------------------------------------------- */

static void pool_unqueue(struct fc_pool *pool, struct fc_invocation *inv) {
    struct fc_invocation **pp = &pool->queue_head, *prev = NULL;
    while (*pp != inv) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = inv->next;
    if (pool->queue_tail == inv)
        pool->queue_tail = prev;
    inv->next = NULL;
    pool->queued--;
}

/* A running invocation must stop (timeout or cancel): kill its instance
 * when it serves one request at a time, else close only its connection. */
static void inv_abort_running(struct fc_worker *w, struct fc_invocation *inv,
                              enum fc_inv_result r) {
    struct fc_slot *slot = inv->slot;
    struct fc_instance *inst = slot->inst;
    slot->inv = NULL;
    if (inst->pool->fn->concurrency == 1 || r == FC_INV_TIMEOUT || r == FC_INV_CRASHED) {
        instance_withdraw(w, inst);
        inst->state = FC_INST_DEAD;
        inst->busy--;
        if (inv->want_log_tail && r != FC_INV_CANCELLED) {
            /* Its last lines may still be in the pipe: answer when the pipe
             * ends (the kill closes it) or after FC_END_LINE_WAIT_MS. */
            inv->result = r;
            inv->duration_us = mono_us() - inv->start_us;
            inv->max_memory_kb = fc_instance_peak_kb(&inst->proc);
            inv->next = inst->tail_waiters;
            inst->tail_waiters = inv;
            inv->tail_inst = inst;
            inv->awaiting_end_line = true;
            fc_wheel_unlink(&inv->timer);
            fc_wheel_link(&w->wheel, &inv->timer, w->now_ms + FC_END_LINE_WAIT_MS);
            instance_kill(inst);
            return;
        }
        instance_kill(inst); /* the pidfd completes the cleanup */
        inv_finish(w, inv, r, &inst->proc);
        return;
    }
    slot->reused = false;
    slot_disconnect(slot);
    inv_finish(w, inv, r, &inst->proc);
    slot_release(w, slot);
}

static void inv_timer_cb(struct fc_wheel_entry *e) {
    struct fc_invocation *inv =
        (struct fc_invocation *)((char *)e - offsetof(struct fc_invocation, timer));
    struct fc_worker *w = self;
    const struct fc_function *fn = inv->fn;
    struct fc_slot *slot = inv->slot;
    if (inv->awaiting_end_line) {
        tail_waiter_finish(w, inv->tail_inst, inv);
    } else if (slot != NULL && inv == slot->inst->hook_inv) {
        inv->slot = NULL;
        slot->inv = NULL;
        if (slot->inst->state == FC_INST_STOPPING)
            instance_kill(slot->inst); /* /pre-stop took too long */
        else
            instance_failed_start(w, slot->inst, FC_INV_INIT_FAILED, "the initializer timed out");
    } else if (slot != NULL) {
        FC_LOG_INFO("%s/%s: %s timed out after %u s", fn->service, fn->name, inv->request_id,
                    fn->timeout_s);
        inv_abort_running(w, inv, FC_INV_TIMEOUT);
    } else { /* waited in the queue too long: the function is saturated */
        pool_unqueue(w->pools[fn->id], inv);
        snprintf(inv->error, sizeof(inv->error), "waited %u ms for an instance", QUEUE_WAIT_MS);
        inv_complete(w, inv, FC_INV_THROTTLED);
    }
}

static void on_invocation(struct fc_worker *w, struct fc_invocation *inv) {
    /* Relaxed: the submit ring's acquire made the io thread's writes visible. */
    w->held[(size_t)inv->io_index * FC_INV_POOL_MAX + inv->pool_index] =
        (atomic_load_explicit(&inv->generation, memory_order_relaxed) & 0xffffff) + 1;
    inv->at_worker = true;
    inv->next = NULL;
    inv->slot = NULL;
    inv->duration_us = 0;
    inv->max_memory_kb = 0;
    inv->error[0] = '\0';
    inv->instance_id[0] = '\0';
    inv->awaiting_end_line = false;
    inv->tail_from = inv->tail_to = UINT32_MAX;
    fc_wheel_entry_init(&inv->timer, inv_timer_cb);
    if (atomic_load(&w->stop)) {
        inv_complete(w, inv, FC_INV_INTERNAL);
        return;
    }
    struct fc_pool *pool = pool_for(w, inv->fn);
    if (pool == NULL) {
        inv_complete(w, inv, FC_INV_GONE);
        return;
    }
    if (pool->idle != NULL && pool->queue_head == NULL) {
        struct fc_slot *slot = pool->idle;
        pool->idle = slot->next_idle;
        slot_run(w, slot, inv);
        return;
    }
    if (pool->queued >= FC_WAIT_QUEUE_MAX) {
        snprintf(inv->error, sizeof(inv->error), "%u requests already wait", pool->queued);
        inv_complete(w, inv, FC_INV_THROTTLED);
        return;
    }
    if (pool->queue_tail)
        pool->queue_tail->next = inv;
    else
        pool->queue_head = inv;
    pool->queue_tail = inv;
    pool->queued++;
    fc_wheel_link(&w->wheel, &inv->timer, w->now_ms + QUEUE_WAIT_MS);
    pool_dispatch(w, pool);
}

/* A cancel notice: find the invocation if this worker still holds it. */
static void on_cancel(struct fc_worker *w, uintptr_t notice) {
    uint64_t v = (uint64_t)notice >> 1;
    uint32_t gen = (uint32_t)(v >> 32), io = (uint32_t)(v >> 16) & 0xffff;
    uint32_t index = (uint32_t)v & 0xffff;
    if (io >= w->sched->io_count || index >= FC_INV_POOL_MAX)
        return;
    /* Only look at the invocation if this worker holds that very use of it:
     * the held table is ours alone, so nothing here races with its owner. */
    if (w->held[(size_t)io * FC_INV_POOL_MAX + index] != gen + 1)
        return;
    struct fc_invocation *inv = &w->sched->invs[(size_t)io * FC_INV_POOL_MAX + index];
    if (inv->awaiting_end_line) {
        tail_waiter_finish(w, inv->tail_inst, inv);
        return;
    }
    if (inv->slot == NULL) {
        pool_unqueue(w->pools[inv->fn->id], inv);
        inv_complete(w, inv, FC_INV_CANCELLED);
        return;
    }
    struct fc_instance *inst = ((struct fc_slot *)inv->slot)->inst;
    inv->duration_us = mono_us() - inv->start_us;
    inv->max_memory_kb = fc_instance_peak_kb(&inst->proc);
    char line[256];
    int n = snprintf(line, sizeof(line),
                     "FC Invoke End RequestId: %s, Error: Invocation canceled by client "
                     "(duration: %llums, maxMemoryUsage: %.2fMB)",
                     inv->request_id, (unsigned long long)(inv->duration_us / 1000),
                     inv->max_memory_kb / 1024.0);
    log_line_write(w, inst, inv->request_id, line, (size_t)n);
    inv_abort_running(w, inv, FC_INV_CANCELLED);
}

/* ---- the loop ------------------------------------------------------------------ */

static void arm_wake(struct fc_worker *w) {
    struct io_uring_sqe *sqe = fc_uring_sqe(&w->ring);
    io_uring_prep_read(sqe, w->waker.efd, &w->wake_value, sizeof(w->wake_value), 0);
    submit_op(w, sqe, w, W_WAKE);
}

static void handle_cqe(struct fc_worker *w, const struct io_uring_cqe *cqe) {
    void *ptr = (void *)(uintptr_t)(cqe->user_data & ~(uint64_t)W_OP_MASK);
    if (cqe->user_data == FC_URING_WAKE_MSG)
        return; /* a producer's MSG_RING: the loop polls the rings anyway */
    switch ((enum w_op)(cqe->user_data & W_OP_MASK)) {
    case W_WAKE: arm_wake(w); break;
    case W_CONNECT: on_slot_connect(w, ptr, cqe->res); break;
    case W_SEND: on_slot_send(w, ptr, cqe->res); break;
    case W_RECV: on_slot_recv(w, ptr, cqe->res); break;
    case W_PIDFD: on_pidfd(w, ptr); break;
    case W_LOG: on_log(w, ptr, cqe->res); instance_free_if_done(w, ptr); break;
    case W_LOG_CANCEL: break;
    default: FC_ASSERT(!"unknown worker operation");
    }
    /* A slot op may have been the last thing keeping a dead instance. */
    uint32_t op = cqe->user_data & W_OP_MASK;
    if (op == W_CONNECT || op == W_SEND || op == W_RECV) {
        struct fc_slot *slot = ptr;
        if (slot->inst->reaped)
            instance_free_if_done(w, slot->inst);
    }
}

/* Take everything the io threads submitted. Returns how many items. */
static uint32_t drain_submits(struct fc_worker *w) {
    void *items[64];
    uint32_t total = 0;
    for (uint32_t io = 0; io < w->sched->io_count; io++) {
        struct fc_ring *r = fc_sched_ring(w->sched, io, w->index, 0);
        uint32_t n;
        while ((n = fc_ring_pop_burst(r, items, 64)) > 0) {
            for (uint32_t i = 0; i < n; i++) {
                if ((uintptr_t)items[i] & 1)
                    on_cancel(w, (uintptr_t)items[i]);
                else
                    on_invocation(w, items[i]);
            }
            total += n;
        }
    }
    return total;
}

static bool rings_empty(struct fc_worker *w) {
    for (uint32_t io = 0; io < w->sched->io_count; io++)
        if (fc_ring_count(fc_sched_ring(w->sched, io, w->index, 0)) > 0)
            return false;
    return true;
}

/* Stop: hand back what waits or runs as FC_INV_INTERNAL ("fcd is
 * stopping", which the store thread puts back in the queue without using an
 * attempt), kill every instance, then let the pidfds finish. */
static void pool_shutdown(struct fc_worker *w, struct fc_pool *pool) {
    {
        pool_fail_queue(w, pool, FC_INV_INTERNAL, "fcd is stopping");
        for (struct fc_instance *inst = pool->instances; inst; inst = inst->next) {
            for (uint32_t i = 0; i < pool->fn->concurrency; i++) {
                struct fc_invocation *inv = inst->slots[i].inv;
                if (inv == NULL || inv == inst->hook_inv)
                    continue;
                inst->slots[i].inv = NULL;
                snprintf(inv->error, sizeof(inv->error), "fcd is stopping");
                inv_finish(w, inv, FC_INV_INTERNAL, &inst->proc);
            }
            while (inst->tail_waiters != NULL)
                tail_waiter_finish(w, inst, inst->tail_waiters);
            instance_withdraw(w, inst);
            inst->state = FC_INST_DEAD;
            fc_wheel_unlink(&inst->timer);
            instance_kill(inst);
        }
    }
}

static void worker_shutdown(struct fc_worker *w) {
    for (uint32_t id = 0; id < FC_FUNCTIONS_MAX; id++)
        if (w->pools[id] != NULL)
            pool_shutdown(w, w->pools[id]);
    for (struct fc_pool *pool = w->retired; pool; pool = pool->next_retired)
        pool_shutdown(w, pool);
}

static void worker_loop(struct fc_worker *w) {
    arm_wake(w);
    bool stopping = false;
    /* Endless until stopped and every instance is gone. */
    for (;;) {
        w->now_ms = mono_us() / 1000;
        fc_wheel_run(&w->wheel, w->now_ms);
        pools_refresh(w);
        drain_submits(w);
        if (atomic_load(&w->stop) && !stopping) {
            stopping = true;
            worker_shutdown(w);
        }
        wake_io_threads(w);
        log_flush(w);
        fc_log_flush();
        if (stopping && w->instances_live == 0)
            break;
        fc_sleep_announce(&w->waker.sleeping);
        /* Work that arrived after drain_submits: just poll. */
        uint64_t until = rings_empty(w) && !fc_sched_catalog_moved(w->sched, &w->view)
                             ? fc_wheel_next_ms(&w->wheel)
                             : w->now_ms;
        int rc = fc_uring_wait(&w->ring, w->now_ms, until);
        fc_sleep_clear(&w->waker.sleeping);
        if (rc < 0) {
            FC_LOG_ERROR("worker io_uring: %s", strerror(-rc));
            break;
        }
        w->now_ms = mono_us() / 1000;
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&w->ring, head, cqe) {
            handle_cqe(w, cqe);
            seen++;
        }
        io_uring_cq_advance(&w->ring, seen);
    }
}

int fc_worker_init(struct fc_worker *w, struct fc_sched *s, uint32_t index) {
    w->sched = s;
    w->index = index;
    fc_waker_init(&w->waker, eventfd(0, EFD_CLOEXEC));
    w->pools = calloc(FC_FUNCTIONS_MAX, sizeof(*w->pools));
    w->io_pushed = calloc(s->io_count, sizeof(*w->io_pushed));
    w->held = calloc((size_t)s->io_count * FC_INV_POOL_MAX, sizeof(*w->held));
    if (w->waker.efd < 0 || !w->pools || !w->io_pushed || !w->held)
        return -ENOMEM;
    atomic_init(&w->stop, false);
    return fc_reqid_init(&w->ids);
}

void *fc_worker_main(void *arg) {
    struct fc_worker *w = arg;
    self = w;
    char name[16];
    snprintf(name, sizeof(name), "worker-%u", w->index);
    fc_log_thread_set(name);
    pthread_setname_np(pthread_self(), name);
    if (fc_sched_pin(w->sched->cfg, w->index) < 0)
        FC_LOG_WARN("cannot set the scheduling of %s (SCHED_BATCH, pinning)", name);
    /* The ring is created here: SINGLE_ISSUER binds it to this thread. */
    int rc = fc_uring_init(&w->ring, RING_ENTRIES, &w->features);
    if (rc < 0) {
        FC_LOG_ERROR("worker io_uring setup failed: %s", strerror(-rc));
        exit(1); /* the scheduler cannot run with a worker missing */
    }
    fc_waker_ring(&w->waker, &w->ring, &w->features);
    w->now_ms = mono_us() / 1000;
    fc_wheel_init(&w->wheel, w->now_ms);
    worker_loop(w);
    fc_log_flush();
    io_uring_queue_exit(&w->ring);
    return NULL;
}

void fc_worker_destroy(struct fc_worker *w) {
    for (uint32_t id = 0; w->pools && id < FC_FUNCTIONS_MAX; id++)
        if (w->pools[id] != NULL) {
            FC_ASSERT(w->pools[id]->instances == NULL);
            pool_free(w, w->pools[id]);
        }
    while (w->retired != NULL)
        pool_free(w, w->retired);
    fc_registry_view_release(&w->view);
    if (w->waker.efd >= 0)
        close(w->waker.efd);
    free(w->pools);
    free(w->io_pushed);
    free(w->held);
}
