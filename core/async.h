/* async.h — durable asynchronous invocation: the store thread.
 *
 * One thread owns the LMDB job store's write side (store/jobs.h). io threads
 * hand it accepted async requests through one SPSC ring each; it appends
 * everything waiting in ONE write transaction and commits (group commit,
 * fsync by default), and only then hands the requests back through a second
 * ring, whereupon the io thread answers 202. No 202 before the commit that
 * holds the job.
 *
 * Due jobs (now, after x-fc-async-delay, or a retry's back-off) are loaded a
 * short horizon ahead into the thread's timer wheel and run as ordinary
 * invocations: the store thread is one more "io thread" of the scheduler
 * (index io_count), with its own invocation pool and rings to the workers.
 * Results go back into the record (state, timestamps, attempts, duration,
 * memory, result preview, error, log tail, events) in the next group
 * commit. Function errors, timeouts and crashes are retried per the
 * function's async config with exponential back-off; throttling retries
 * without consuming an attempt; past the maximum event age a job Expires.
 * On start, jobs left Running by a dead fcd go back to Enqueued
 * (at-least-once).
 *
 * Reads (task status, listing) are read-only transactions from the calling
 * io thread: fc_async_jobs gives the store handle.
 *
 * Destinations: a finished job whose function names an on_success /
 * on_failure function appends, in the same commit, an async job for it
 * with FC's callback payload (CONTRACT.md §7); chains stop after
 * FC_ASYNC_DESTINATION_DEPTH_MAX hops. An http:// endpoint gets the payload
 * POSTed by this thread (io_uring) once the final state is durable, tried 3
 * times 1 s and 2 s apart, the outcome recorded in destinationStatus; a
 * delivery cut short by fcd stopping stays "Pending" (not re-sent). HTTPS
 * is not supported. Timer triggers append jobs too. */
#ifndef FC_ASYNC_H
#define FC_ASYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/reqid.h"
#include "core/sched.h"
#include "store/jobs.h"

#define FC_ASYNC_REQS_MAX 1024u      /* async requests in flight per io thread; past it 503 */
#define FC_ASYNC_RUNNING_MAX 1024u   /* jobs loaded or running at once (the rest wait in LMDB) */
#define FC_ASYNC_HORIZON_MS 1000u    /* due jobs are loaded this far ahead */
#define FC_ASYNC_DELAY_S_MAX 3600u   /* x-fc-async-delay: 0..3600 (CONTRACT.md §2.1) */
#define FC_ASYNC_BACKOFF_MS_MAX 300000u /* retry back-off cap */
#define FC_ASYNC_DESTINATION_DEPTH_MAX 8u /* destination chains stop here (no loops forever) */
/* The content type an HTTP trigger's job is stored with: its payload is the
 * whole request for the instance (head and body), sent as it is. */
#define FC_ASYNC_HTTP_REQUEST "application/x-fcd-http-request"

enum fc_async_kind {
    FC_ASYNC_SUBMIT, /* store a new job */
    FC_ASYNC_STOP,   /* stop a queued or running task */
};

/* A request from an io thread to the store thread and back. Owned by the io
 * thread's pool; ownership moves with the pointer through the rings. */
struct fc_async_req {
    enum fc_async_kind kind;
    uint16_t io_index;
    void *conn; /* the client connection (io thread's) */
    const struct fc_function *fn;
    char id[FC_RECORD_ID_BYTES_MAX + 1]; /* task id = request id */
    char stop_request_id[FC_REQID_LEN + 1]; /* STOP: the stop call's own, for its answer */
    char scope[FC_RECORD_SERVICE_BYTES_MAX + FC_RECORD_FUNCTION_BYTES_MAX + 2]; /* STOP: "s/f" */
    bool stateful;                       /* answer with X-Fc-Stateful-Async-Invocation-Id */
    bool http;                           /* HTTP trigger: payload is the whole instance request */
    uint32_t delay_s;
    char content_type[FC_RECORD_CONTENT_TYPE_BYTES_MAX + 1];
    struct fc_buf payload;
    /* set by the store thread: 0 stored (or stopped), -EEXIST the id was
     * stored before (still a 202: idempotent), -ENOSPC store full (503),
     * -EADDRINUSE the id is another function's task (400), -ENOENT no such
 * task (of this function), -ESTALE task already finished (400), -EIO. */
    int result;
    struct fc_async_req *next_free;
};

struct fc_async;

/* Open the store under cfg->data_dir, recover jobs of a dead run, and start
 * the store thread as scheduler index `sched_index` (= io_count). Main
 * thread. Returns 0 or -errno (nothing left running). */
int fc_async_start(const struct fc_config *cfg, struct fc_sched *sched, uint32_t sched_index,
                   struct fc_async **out);

/* Stop the thread (jobs still due stay in LMDB for the next start) and
 * close the store. Call after the io threads stopped, before the workers. */
void fc_async_stop(struct fc_async *a);

/* ---- io thread side ---- */

/* Hand req to the store thread. Returns 0 (it owns req until it comes back
 * through fc_async_poll) or -EAGAIN (ring full: answer 503). */
int fc_async_submit(struct fc_async *a, struct fc_async_req *req);

/* Pop up to n finished requests of io thread io_index. */
uint32_t fc_async_poll(struct fc_async *a, uint32_t io_index, struct fc_async_req **out,
                       uint32_t n);

/* True when finished requests wait for io thread io_index (do not sleep). */
bool fc_async_pending(struct fc_async *a, uint32_t io_index);

/* The job store, for read-only calls (fc_jobs_get / fc_jobs_list) from any
 * thread. */
struct fc_jobs *fc_async_jobs(struct fc_async *a);

#endif
