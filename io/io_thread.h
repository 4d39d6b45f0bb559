/* io_thread.h — private to io/: the io thread and connection structures
 * shared by server.c (threads, loop, accept), conn.c (connection state
 * machine) and dispatch.c (what a complete request gets as its answer).
 *
 * Everything here is owned by exactly one io thread and touched only by it. */
#ifndef FC_IO_THREAD_H
#define FC_IO_THREAD_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/async.h"
#include "core/config.h"
#include "core/ctl.h"
#include "core/invocation.h"
#include "core/reqid.h"
#include "core/sched.h"
#include "core/wheel.h"
#include "io/http.h"
#include "io/response.h"
#include "core/uring.h"

/* io_uring user_data: a pointer to an fc_io or fc_conn (8-byte aligned) with
 * the operation in its low 3 bits. */
enum fc_op {
    FC_OP_ACCEPT = 1, /* ptr: fc_io */
    FC_OP_WAKE,       /* ptr: fc_io, eventfd read */
    FC_OP_RECV,       /* ptr: fc_conn, multishot recv or (basic mode) poll */
    FC_OP_SEND,       /* ptr: fc_conn */
};
#define FC_OP_MASK 7u

static inline uint64_t fc_op_data(void *ptr, enum fc_op op) {
    return (uint64_t)(uintptr_t)ptr | op;
}

enum fc_conn_phase {
    FC_PHASE_HEAD, /* reading a request head (or idle, when nothing is buffered) */
    FC_PHASE_BODY, /* head parsed, reading its body */
};

enum fc_conn_timer {
    FC_TIMER_NONE,
    FC_TIMER_IDLE,    /* keep-alive, between requests */
    FC_TIMER_REQUEST, /* head from its first byte; body between received bytes */
    FC_TIMER_SEND,    /* a response the client does not read */
    FC_TIMER_LINGER,  /* after our FIN, waiting for the client's */
};

struct fc_io;

struct fc_conn {
    struct fc_io *io;
    int fd;
    uint8_t ops;        /* io_uring operations in flight on fd */
    bool recv_armed;
    bool send_busy;
    bool closed;        /* fd shut down; freed once ops reaches 0 */
    bool close_after_send;
    bool lingering;     /* we sent FIN; discarding input until the client's */
    bool peer_eof;
    bool continue_sent; /* "100 Continue" already sent for this request */
    enum fc_conn_phase phase;
    enum fc_conn_timer timer_kind;

    struct fc_buf in;     /* received bytes: [request head][body][next...] */
    size_t parsed_len;    /* in.len at the last incomplete head parse */
    size_t head_len;      /* in PHASE_BODY */
    uint64_t body_len;    /* Content-Length, or decoded bytes so far when chunked */
    uint64_t body_max;    /* limit for this request's body */
    bool chunked;
    size_t raw_pos;       /* chunked: next undecoded byte in `in` */
    struct fc_http_chunked dec;

    struct fc_buf out;  /* responses being built */
    struct fc_buf wbuf; /* responses being sent (owned by the kernel while send_busy) */
    size_t wbuf_sent;

    struct fc_wheel_entry timer;
    uint64_t request_start_us;
    struct fc_conn *next_free;

    /* While an invocation runs for this connection's current request: */
    struct fc_invocation *inv; /* owned by a worker until it comes back */
    struct fc_async_req *areq; /* owned by the store thread until it comes back */
    struct fc_ctl_req *creq;   /* owned by the ctl thread until it comes back */
    char async_method[12];     /* of the request behind areq, for the access line */
    char async_target[160];
    bool inv_keep_alive;
    bool request_taken; /* fc_conn_take_request moved the current request */
    bool inv_http10;
    bool trigger_request; /* the current request came through an HTTP trigger */
    uint32_t inv_method_off, inv_method_len; /* in inv->req, for the access line */
    uint32_t inv_target_off, inv_target_len;
    char client_ip[46];
};

struct fc_server;

struct fc_io {
    struct fc_server *server;
    const struct fc_config *cfg;
    unsigned index;
    pthread_t thread;

    struct io_uring ring;
    struct fc_uring_features features;
    struct fc_uring_bufs bufs;
    bool basic; /* no multishot / buffer rings: poll + recv, single accept */

    int listen_fd;
    bool accept_armed;
    int wake_fd;
    uint64_t wake_value;
    bool draining;
    bool stopping;

    uint64_t now_ms;
    struct fc_wheel wheel;
    struct fc_wheel_entry accept_retry;
    struct fc_reqid_gen reqid;
    struct fc_http_limits limits;
    struct fc_http_header *headers; /* parse scratch, limits.headers_max entries */

    struct fc_conn *conns; /* pool of cfg->http.connections_max */
    uint32_t conns_touched;  /* conns[0..conns_touched) handed out at least once; the rest
                                stay untouched (not resident) until load reaches them */
    struct fc_conn *free_conns;
    uint32_t conns_open;

    struct fc_buf spare[64]; /* emptied connection buffers kept for reuse */
    uint32_t spare_count;

    struct fc_sched *sched;
    struct fc_auth_scratch *auth; /* signature work space (core/auth.h) */
    struct fc_buf scratch;        /* response headers being assembled (dispatch.c) */
    struct fc_inv_pool invs; /* this thread's invocations */
    struct fc_async *async;            /* NULL: async invocation unavailable */
    struct fc_ctl *ctl;                /* the management API */
    struct fc_registry *registry;
    struct fc_catalog_view view;       /* this thread's catalog (core/registry.h) */
    struct fc_async_req *areqs;        /* pool of FC_ASYNC_REQS_MAX */
    struct fc_async_req *free_areqs;
};

/* conn.c */
void fc_conn_accepted(struct fc_io *io, int fd);
void fc_conn_on_recv(struct fc_conn *c, int res, uint32_t flags);
void fc_conn_on_send(struct fc_conn *c, int res);
/* Close idle connections and make busy ones close after their response. */
void fc_conn_drain_all(struct fc_io *io);
/* Close every connection now. */
void fc_conn_close_all(struct fc_io *io);

/* A worker finished c's invocation (c may be closed already). */
void fc_conn_on_invocation(struct fc_conn *c, struct fc_invocation *inv);
/* The store thread finished c's async request (c may be closed already). */
void fc_conn_on_async(struct fc_conn *c, struct fc_async_req *req);
/* The ctl thread answered c's management call (c may be closed already). */
void fc_conn_on_ctl(struct fc_conn *c, struct fc_ctl_req *req);
/* Is c waiting for a worker, the store thread or the ctl thread? */
static inline bool fc_conn_waiting(const struct fc_conn *c) {
    return c->inv != NULL || c->areq != NULL || c->creq != NULL;
}
/* Move the request (head + body, `consumed` bytes at the front of c->in)
 * into *to, leaving only the bytes after it (pipelined) in c->in. */
int fc_conn_take_request(struct fc_conn *c, size_t consumed, struct fc_buf *to);

/* dispatch.c: answer one complete request (head in req, body in
 * body[0..body_len), the whole request `consumed` bytes of c->in) by
 * appending a response to c->out and returning its status, or by starting
 * an invocation (c->inv set) and returning 0. */
int fc_dispatch(struct fc_conn *c, const struct fc_http_req *req, const char *body,
                uint64_t body_len, size_t consumed, bool keep_alive, const char *request_id);
/* Before reading a management call's body (up to FC_CTL_BODY_BYTES_MAX):
 * may its sender upload at all? The signature covers the head only, so a
 * client without a valid one is refused before fcd buffers its body.
 * Returns true, or false with the FC error and its argument. */
bool fc_dispatch_upload_allowed(struct fc_conn *c, const struct fc_http_req *req,
                                enum fc_error *err, char arg[FC_AUTH_MESSAGE_BYTES_MAX]);
/* Append the response for a finished invocation to c->out; returns the
 * status. The caller recycles inv afterwards. */
int fc_dispatch_complete(struct fc_conn *c, struct fc_invocation *inv, bool keep_alive);
/* Give a finished invocation back to its io thread's free stack. */
void fc_dispatch_recycle(struct fc_io *io, struct fc_invocation *inv);
/* Append the response for a finished async request; returns the status.
 * The caller recycles req. */
int fc_dispatch_async_complete(struct fc_conn *c, struct fc_async_req *req, bool keep_alive);

/* Monotonic microseconds. */
uint64_t fc_now_us(void);

#endif
