/* ctl.h — the management API (FC 2.0, CONTRACT.md §5): services, functions,
 * triggers and async invoke configs, on the ctl thread.
 *
 * The ctl thread owns the catalog: its JSON documents (in memory and in
 * store/catalog.h's LMDB, written durably before a call is answered), the
 * code directories under <data_dir>/code/, and the fc_function objects
 * built from them. Every change builds a new catalog snapshot (reusing the
 * unchanged functions) and publishes it through the registry, so io
 * threads, workers and the store thread see it atomically on their next
 * look, with no restart. Updating a function makes a new fc_function: new
 * invocations go to instances of the new version, old instances finish and
 * are reclaimed (core/worker.c).
 *
 * Bootstrap: at start the functions of the config file and --function flags
 * are written into the catalog through the same path as CreateFunction
 * (replacing an earlier bootstrap version of the same name), and bootstrap
 * functions the configuration no longer names are removed; functions made
 * through the API are kept across restarts.
 *
 * Why a thread of its own: a call may unpack a 100 MB zip and fsync; the io
 * threads hand requests over and go on serving. Requests arrive on a
 * mutex-guarded queue (management calls are rare; the data plane never
 * touches it) and come back on a per-io-thread list with the io thread's
 * wake-up. */
#ifndef FC_CTL_H
#define FC_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/registry.h"

struct fc_sched;
struct fc_ctl;

/* Bytes of a management request body the io thread accepts: a base64 code
 * package of about 48 MB. */
#define FC_CTL_BODY_BYTES_MAX (64u << 20)
/* Management requests queued or running at once; past it 503. */
#define FC_CTL_QUEUE_MAX 256u
/* Items in one page of a List call. */
#define FC_CTL_LIST_LIMIT_MAX 1000u
#define FC_CTL_LIST_LIMIT_DEFAULT 100u
/* Bytes of function log one GetFunctionLogs call returns. */
#define FC_CTL_LOG_BYTES_MAX (1u << 20)

/* A management call, from an io thread to the ctl thread and back. Heap
 * (fc_ctl_req_new); ownership moves with the pointer. */
struct fc_ctl_req {
    /* Set by the io thread. */
    uint16_t io_index;
    void *conn;
    int method;           /* enum fc_http_method */
    char *path;           /* after "/{version}/", without the query, NUL-ended */
    char *query;          /* raw, "" when none */
    char *host;           /* the Host header, for trigger URLs; "" when none */
    char *if_match;       /* If-Match, NULL when none */
    struct fc_buf body;
    char request_id[64];
    /* Set by the ctl thread. */
    int status;
    const char *content_type; /* static; NULL: no body */
    struct fc_buf resp;
    char extra[256];          /* extra response header lines ("ETag: ...\r\n") */
    struct fc_ctl_req *next;
};

/* A request with copies of the strings; NULL on ENOMEM. */
struct fc_ctl_req *fc_ctl_req_new(const char *path, uint32_t path_len, const char *query,
                                  uint32_t query_len, const char *host, uint32_t host_len,
                                  const char *if_match, uint32_t if_match_len);
void fc_ctl_req_free(struct fc_ctl_req *req);

/* Open the catalog under cfg->data_dir, load it, apply the bootstrap
 * functions of cfg->catalog, publish the result into reg (initialised
 * here) and start the thread. Main thread, before the io threads. Returns 0
 * or -errno with the reason logged (nothing left running; reg untouched). */
int fc_ctl_start(const struct fc_config *cfg, struct fc_registry *reg, struct fc_ctl **out);

/* Tell the ctl thread where io threads' wake-ups go (after fc_sched_start). */
void fc_ctl_attach(struct fc_ctl *ctl, struct fc_sched *sched);

/* Stop the thread (a running call finishes first) and close the store.
 * Call after the io threads stopped. */
void fc_ctl_stop(struct fc_ctl *ctl);

/* io thread: queue req. Returns 0 (the ctl thread owns it until it comes
 * back through fc_ctl_poll) or -EAGAIN (queue full: answer 503). */
int fc_ctl_submit(struct fc_ctl *ctl, struct fc_ctl_req *req);

/* io thread io_index: take up to n answered requests. */
uint32_t fc_ctl_poll(struct fc_ctl *ctl, uint32_t io_index, struct fc_ctl_req **out, uint32_t n);

/* True when answered requests wait for io thread io_index. */
bool fc_ctl_pending(struct fc_ctl *ctl, uint32_t io_index);

#endif
