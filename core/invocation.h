/* invocation.h — one synchronous invocation, handed from an io thread to a
 * worker and back.
 *
 * Ownership moves with the pointer through the scheduler's rings:
 *   io thread (fills the request part) --submit--> worker (runs it, fills the
 *   result part) --complete--> io thread (answers the client, recycles it).
 * Exactly one thread owns an invocation at any time; fields are plain, not
 * atomic, except `generation`, which a worker reads to tell a stale cancel
 * notice from a live one (see fc_sched_cancel).
 *
 * Invocations live in a per-io-thread pool allocated at start and are never
 * freed while fcd runs, which is what makes a cancel notice (pool index +
 * generation) safe to look at after the invocation was recycled. */
#ifndef FC_INVOCATION_H
#define FC_INVOCATION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/registry.h"
#include "core/reqid.h"
#include "core/wheel.h"

#define FC_LOG_TAIL_BYTES 4096 /* X-Fc-Log-Result: the last 4 KB (CONTRACT.md §2.2) */

/* How an invocation ended, from the platform's point of view. */
enum fc_inv_result {
    FC_INV_OK,             /* the instance answered (its status may still say failure) */
    FC_INV_FUNCTION_ERROR, /* instance answered with x-fc-status: 404 or status 404 (event) */
    FC_INV_TIMEOUT,        /* function timeout; instance killed */
    FC_INV_CRASHED,        /* instance exited or closed mid-request */
    FC_INV_NOT_STARTED,    /* instance never listened (FunctionNotStarted) */
    FC_INV_INIT_FAILED,    /* /initialize failed */
    FC_INV_BAD_RESPONSE,   /* garbage, truncated or oversized reply */
    FC_INV_THROTTLED,      /* function at max instances and its queue full or waited too long */
    FC_INV_CANCELLED,      /* the client went away */
    FC_INV_INTERNAL,       /* spawn failure and the like */
    FC_INV_REPLACE,        /* not run: submit it again (another worker has the instances) */
    FC_INV_GONE,           /* not run: the function was deleted meanwhile */
};

enum fc_inv_kind {
    FC_INV_EVENT, /* InvokeFunction: POST /invoke */
    FC_INV_HTTP,  /* HTTP trigger: the client's request, x-fc-control-path /http-invoke */
};

struct fc_invocation {
    /* ---- set by the io thread before submit ---- */
    const struct fc_function *fn;
    void *conn;        /* the client connection (io thread's, opaque here) */
    uint16_t io_index; /* the owning io thread */
    uint16_t worker_index; /* where fc_sched_submit sent it */
    uint32_t pool_index;
    _Atomic uint32_t generation; /* bumped by the owner on every reuse */
    enum fc_inv_kind kind;
    bool want_log_tail; /* X-Fc-Log-Type: Tail */
    bool head_only; /* HEAD request: the response has no body */
    char request_id[FC_REQID_LEN + 1];
    struct fc_buf head; /* the request head to send to the instance */
    struct fc_buf req;  /* the client's bytes (moved from the connection)... */
    uint64_t body_off;  /* ...of which the request body is [body_off, body_off+body_len) */
    uint64_t body_len;
    uint64_t submit_us;

    /* ---- set by the worker before complete ---- */
    enum fc_inv_result result;
    int status;            /* instance's HTTP status (FC_INV_OK / FUNCTION_ERROR) */
    struct fc_buf resp;    /* instance's response head, then its (decoded) body */
    uint32_t resp_head_len;
    uint64_t duration_us;  /* on the instance */
    uint32_t max_memory_kb;
    char instance_id[40];
    char error[1536];      /* detail for the error message (e.g. logs of a failed start) */
    struct fc_buf log_tail; /* with log_tail: this request's lines + the summary */

    /* ---- worker-private while it owns the invocation ---- */
    struct fc_wheel_entry timer;
    struct fc_invocation *next; /* wait queue link */
    void *slot;                 /* the instance connection running it */
    void *tail_inst;            /* the instance whose End line it waits for */
    uint64_t start_us;
    uint64_t deadline_ms;       /* queue deadline while waiting */
    bool at_worker;             /* set while the worker owns it (cancel check) */
    bool cancelled;             /* a cancel arrived while it ran */
    bool awaiting_end_line;     /* response done; waiting briefly for "FC Invoke End" */
    uint32_t tail_from, tail_to; /* log_tail offsets of its Start/End marker lines, or ~0 */
};

/* Append the x-fc-* headers every request to an instance carries
 * (CONTRACT.md §6.3; unset values as empty strings), ending with the
 * control path; retry_count is x-fc-retry-count (async retries, 0 first).
 * Kept short: gunicorn allows 100 header lines in all.
 * Returns 0 or -ENOMEM. */
int fc_invocation_fc_headers(struct fc_buf *b, const struct fc_function *fn,
                             const char *request_id, const char *control_path,
                             uint32_t retry_count);

#endif
