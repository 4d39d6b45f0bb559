/* limits.h — every bound fcd enforces, in one place, next to the FC error it
 * returns when crossed (CONTRACT.md §2.4, §3.4). Defaults here; most are
 * configurable (core/config.h) within the hard _MAX bounds below.
 *
 * Header-only; no state. */
#ifndef FC_LIMITS_H
#define FC_LIMITS_H

#include <assert.h>

/* HTTP request head: request line + headers. Past it: 400 InvalidArgument
 * and close (431 would be plain HTTP; FC answers 400). */
#define FC_HTTP_HEAD_BYTES_DEFAULT (64u * 1024)
#define FC_HTTP_HEAD_BYTES_MAX (1024u * 1024)
/* Header lines per request. Past it: 400 InvalidArgument and close. */
#define FC_HTTP_HEADERS_DEFAULT 100u
#define FC_HTTP_HEADERS_MAX 256u
/* Sync body (FC 2.0's 6 MB; up to FC's current 32 MB). Past it: 400
 * EntityTooLarge on the API, 400 InvalidArgument on HTTP triggers. */
#define FC_HTTP_BODY_SYNC_BYTES_DEFAULT (6u * 1024 * 1024)
#define FC_HTTP_BODY_SYNC_BYTES_MAX (32u * 1024 * 1024)
/* Async payload (CONTRACT.md: 128 KB, configurable up to 256 KB). */
#define FC_HTTP_BODY_ASYNC_BYTES_DEFAULT (128u * 1024)
#define FC_HTTP_BODY_ASYNC_BYTES_MAX (256u * 1024)
/* Idle keep-alive: FC's servers keep 90 s (fc-go-sdk connect.go). */
#define FC_HTTP_IDLE_TIMEOUT_MS_DEFAULT 90000u
/* A request head must arrive within this (slowloris); while a body is being
 * read, each gap between received bytes is bounded by it too. */
#define FC_HTTP_HEADER_TIMEOUT_MS_DEFAULT 10000u
/* Open client connections per io thread. Past it: accept, answer 503
 * ResourceThrottled, close. */
#define FC_CONNS_PER_THREAD_DEFAULT 16384u
#define FC_CONNS_PER_THREAD_MAX 262144u
/* Responses queued on one connection before we stop parsing its pipeline. */
#define FC_CONN_OUT_BYTES_MAX (8u * 1024 * 1024)

/* Idle instances are stopped after this (scale to zero). */
#define FC_INSTANCE_IDLE_S_DEFAULT 300u

/* Threads. */
#define FC_IO_THREADS_MAX 64u
#define FC_WORKERS_MAX 64u

/* Drain on SIGTERM: in-flight requests get this long before exit. */
#define FC_DRAIN_GRACE_MS_DEFAULT 10000u

/* Receive buffers in each io thread's provided-buffer ring. */
#define FC_RECV_BUF_BYTES 16384u
#define FC_RECV_BUFS 512u
static_assert((FC_RECV_BUFS & (FC_RECV_BUFS - 1)) == 0, "buffer ring size is a power of two");
static_assert(FC_HTTP_HEADERS_DEFAULT <= FC_HTTP_HEADERS_MAX, "default within bound");
static_assert(FC_HTTP_HEAD_BYTES_DEFAULT <= FC_HTTP_HEAD_BYTES_MAX, "default within bound");
static_assert(FC_HTTP_BODY_ASYNC_BYTES_MAX <= FC_HTTP_BODY_SYNC_BYTES_DEFAULT,
              "async payloads fit in the sync limit");

#endif
