/* worker.h — private to core/: a worker thread and what it owns.
 *
 * A worker owns its instances (child processes), their connections
 * ("slots": one keep-alive HTTP/1.1 connection each, at most the function's
 * instanceConcurrency per instance), a wait queue per function, its own
 * io_uring and timer wheel. It takes invocations from the scheduler's submit
 * rings, runs them on an idle slot (starting an instance when it must), and
 * returns them through the complete rings. Everything here is touched by the
 * owning worker thread only, except the fields marked shared. */
#ifndef FC_WORKER_H
#define FC_WORKER_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "core/instance.h"
#include "core/invocation.h"
#include "core/limits.h"
#include "core/ring.h"
#include "core/sched.h"
#include "core/uring.h"
#include "core/wheel.h"
#include "io/http.h"

#define FC_INV_POOL_MAX 2048u       /* invocations in flight per io thread */
#define FC_WAIT_QUEUE_MAX 1024u     /* queued invocations per function per worker */
#define FC_START_TIMEOUT_MS 25000u  /* an instance must listen within (FC 2.0's 25 s) */
#define FC_RESP_HEAD_BYTES_MAX 16384u /* instance response head; past it 502 BadResponse */
#define FC_END_LINE_WAIT_MS 50u     /* wait for "FC Invoke End" before cutting a log tail */
#define FC_LOG_LINE_BYTES_MAX 16384u /* longer instance output lines are split */
static_assert(FC_INV_POOL_MAX * 2 <= FC_RING_SLOTS,
              "invocations plus their cancel notices always fit in a ring");

/* Per function per worker placement hints, one cache line each. */
struct fc_counter {
    _Alignas(64) _Atomic uint32_t capacity; /* worker: slots of its live instances (starting too) */
    _Atomic uint32_t load;                  /* submitted, not completed */
};

struct fc_sched {
    const struct fc_config *cfg;
    struct fc_registry *registry;
    uint32_t io_count;
    uint32_t worker_count;
    struct fc_worker *workers;
    struct fc_ring *rings;        /* [2 * (io * worker_count + w) + {0 submit, 1 complete}] */
    struct fc_waker *io;          /* [io_count]: how to wake io thread i */
    struct io_uring **io_ring;    /* [io_count]: its ring, for its own wake-ups of others */
    /* Indexed by function id (< FC_FUNCTIONS_MAX); mapped zero and touched
     * only as functions run, so unused ids cost address space, not memory. */
    struct fc_counter *counters;  /* [fn * worker_count + w] */
    _Atomic uint32_t *instances;  /* [fn]: instances of fn on all workers */
    size_t counters_bytes, instances_bytes;
    struct fc_invocation *invs;   /* [io * FC_INV_POOL_MAX]: never freed while running */
};

static inline struct fc_ring *fc_sched_ring(struct fc_sched *s, uint32_t io, uint32_t w,
                                            int complete) {
    return &s->rings[2 * (io * s->worker_count + w) + complete];
}

enum fc_slot_state {
    FC_SLOT_CLOSED,
    FC_SLOT_CONNECTING,
    FC_SLOT_IDLE,
    FC_SLOT_BUSY,
};

struct fc_instance;

/* One connection to an instance. */
struct fc_slot {
    struct fc_instance *inst;
    int fd;
    uint8_t ops; /* io_uring operations in flight on fd */
    enum fc_slot_state state;
    bool reused;        /* served a request before: a failure before any byte retries */
    bool closing;
    struct fc_invocation *inv;
    struct sockaddr_in addr; /* the instance's port, for connect */
    struct msghdr msg;
    struct iovec iov[2];
    struct fc_buf rbuf; /* response bytes */
    size_t head_len;    /* response head, once parsed */
    bool body_chunked, body_until_close;
    uint64_t body_len;  /* Content-Length, or decoded so far */
    size_t raw_pos;
    struct fc_http_chunked dec;
    struct fc_slot *next_idle;
};

enum fc_instance_state {
    FC_INST_STARTING,     /* spawned, probing its port */
    FC_INST_INITIALIZING, /* /initialize in flight */
    FC_INST_READY,
    FC_INST_STOPPING,     /* idle and withdrawn; /pre-stop in flight */
    FC_INST_DEAD,         /* killed or exited; waiting for reap and ops */
};

struct fc_pool;

struct fc_instance {
    struct fc_worker *worker;
    struct fc_pool *pool;
    struct fc_proc proc;
    enum fc_instance_state state;
    bool reaped;
    bool counted; /* its concurrency is in the worker's published capacity */
    bool output_cut;      /* exited a while ago: its output is read no more */
    /* Its start failed (killed or exited while starting): the pool hears
     * (why, with the instance's last output) once that output is all in. */
    bool failure_unreported;
    enum fc_inv_result failure;
    char failure_why[512];
    uint32_t ops;  /* pidfd poll + log reads in flight */
    uint32_t busy; /* slots running an invocation */
    struct fc_slot *slots; /* fn->concurrency */
    struct fc_wheel_entry timer; /* start deadline, then idle reclaim */
    struct fc_invocation *hook_inv; /* the /initialize or /pre-stop request */
    struct fc_invocation *tail_waiters; /* answered, waiting for their End line */
    uint64_t start_ms;
    char logbuf[FC_LOG_LINE_BYTES_MAX]; /* the partial line of stdout+stderr */
    uint32_t loglen;
    char readbuf[4096];
    char recent[1024]; /* last output, for FunctionNotStarted messages */
    char open_rid[FC_REQID_LEN + 1]; /* its last Start marker's id until the End, or "" */
    uint32_t recent_len;
    struct fc_instance *next;
};

/* The instances and wait queue of one version of a function (an
 * fc_function object, referenced). When the function changes or goes, its
 * pool retires: its queue moves to the new version's pool (or fails), idle
 * instances stop, busy ones stop when they finish, and the pool is freed
 * with its last instance. */
struct fc_pool {
    const struct fc_function *fn;
    bool retired;
    struct fc_pool *next_retired;
    struct fc_instance *instances;
    struct fc_slot *idle; /* ready slots, most recently used first */
    struct fc_invocation *queue_head, *queue_tail;
    uint32_t queued;
    uint32_t starting; /* instances not ready yet */
    int log_fd;        /* data_dir/logs/<service>/<function>.log, opened on first line */
    struct fc_wheel_entry scale_timer; /* at max_instances with a queue: look again */
    struct fc_buf log_pending;       /* lines not yet written */
    struct fc_pool *log_next_dirty;  /* in the worker's list of pools with pending lines */
};

struct fc_worker {
    struct fc_sched *sched;
    uint32_t index;
    pthread_t thread;
    struct io_uring ring;
    struct fc_uring_features features;
    struct fc_wheel wheel;
    uint64_t now_ms;
    uint64_t wake_value;
    struct fc_waker waker;  /* shared: producers wake this worker through it */
    _Atomic bool stop;      /* shared: set by the main thread */
    char _guard[64];
    struct fc_pool **pools;   /* [FC_FUNCTIONS_MAX]: the current pool of each function id */
    struct fc_pool *retired;  /* retired pools with instances still running */
    struct fc_catalog_view view;
    uint32_t instances_live;
    uint64_t instance_seq;
    struct fc_reqid_gen ids;
    struct fc_pool *log_dirty; /* pools with buffered log lines */
    time_t log_sec;            /* second of log_stamp */
    char log_stamp[32];
    bool *io_pushed;       /* [io_count]: completions pushed this round */
    uint32_t *held;        /* [io * FC_INV_POOL_MAX]: generation + 1 of what we hold */
    struct fc_http_header headers[FC_HTTP_HEADERS_MAX];
};

/* worker.c */
int fc_worker_init(struct fc_worker *w, struct fc_sched *s, uint32_t index);
void *fc_worker_main(void *arg);
void fc_worker_destroy(struct fc_worker *w);

/* Cancel notices travel the submit ring as tagged integers, not pointers:
 * (io, pool index, generation) << 1 | 1. */
static inline void *fc_cancel_notice(const struct fc_invocation *inv) {
    uint64_t gen = atomic_load_explicit(&inv->generation, memory_order_relaxed);
    return (void *)(uintptr_t)((((gen & 0xffffffu) << 32) | ((uint64_t)inv->io_index << 16) |
                                inv->pool_index) << 1 | 1);
}

#endif
